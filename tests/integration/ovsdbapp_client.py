#!/usr/bin/python3
"""A real client of OVSDB's protocol against kvnetd: ovsdbapp (Debian's
python3-ovsdbapp, on Open vSwitch's Python IDL), as Nova's os-vif and
Neutron's agents use it.

usage: ovsdbapp_client.py DB_SOCKET KVNETCTL PREFIX
Adds a bridge and a port with Nova's external_ids in one transaction,
checks kvnet has them, sees kvnetctl's change through its monitor, gets
kvnet's refusal as an error, deletes the port. Exits non-zero on failure.
"""
import json
import subprocess
import sys
import time

from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.schema.open_vswitch import impl_idl

sock, kvnetctl, p = sys.argv[1], sys.argv[2], sys.argv[3]
br, dev = p + "br", p + "a"


def kvnet(*args):
    return subprocess.run([kvnetctl, *args], check=True, capture_output=True, text=True).stdout


def kvnet_port(name):
    show = json.loads(kvnet("show", "--format", "json"))
    for b in show["bridges"]:
        for q in b["ports"]:
            if q["name"] == name:
                return b["name"], q
    return None, None


def wait(what, cond, secs=10):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    sys.exit("FAIL: " + what + " (waited %d s)" % secs)


idl = connection.OvsdbIdl.from_server("unix:" + sock, "Open_vSwitch")
api = impl_idl.OvsdbIdl(connection.Connection(idl=idl, timeout=10))

# os-vif's plug: the bridge, the port, its Interface's external_ids (one transaction).
ids = {"iface-id": "8f1c2d3e-0000-4000-8000-00000000000a", "iface-status": "active",
       "attached-mac": "fa:16:3e:00:00:0a", "vm-uuid": "5b6c7d8e-0000-4000-8000-0000000000aa"}
with api.transaction(check_error=True) as txn:
    txn.add(api.add_br(br, may_exist=True, datapath_type="system"))
    txn.add(api.add_port(br, dev, may_exist=True))
    txn.add(api.db_set("Interface", dev, ("external_ids", ids)))
    txn.add(api.db_set("Port", dev, ("tag", 11)))
where, q = kvnet_port(dev)
assert where == br, (where, q)
assert q["external_ids"] == ids, q
assert q["vlan_mode"] == "access" and q["pvid"] == 11, q
assert api.iface_get_external_id(dev, "iface-id").execute(check_error=True) == ids["iface-id"]
ofport = api.db_get("Interface", dev, "ofport").execute(check_error=True)
assert isinstance(ofport, int) and ofport > 0, ofport
print("ovsdbapp: bridge and port with Nova's external_ids: ok")

# A change made with kvnetctl reaches ovsdbapp's monitor.
kvnet("add-port", br, p + "i", "type=internal", "pvid=12")
wait("ovsdbapp's monitor sees kvnetctl's port",
     lambda: p + "i" in api.list_ports(br).execute(check_error=True))
kvnet("set", "port", p + "i", "pvid=13")
wait("ovsdbapp's monitor sees kvnetctl's tag change",
     lambda: api.db_get("Port", p + "i", "tag").execute(check_error=True) == 13)
print("ovsdbapp: kvnetctl's changes in its monitor: ok")

# kvnet's refusal is the transaction's error, with kvnet's message.
try:
    with api.transaction(check_error=True) as txn:
        txn.add(api.add_port(br, p + "none"))
    sys.exit("FAIL: a port without a device was accepted")
except RuntimeError as e:
    assert "interface '%snone' does not exist" % p in str(e), str(e)
assert p + "none" not in api.list_ports(br).execute(check_error=True)
print("ovsdbapp: a refused change raises kvnet's message: ok")

api.del_port(dev).execute(check_error=True)
assert kvnet_port(dev) == (None, None)
print("ovsdbapp: del_port: ok")
