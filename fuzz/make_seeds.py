#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/seed-* (docs/reliability.md).

Seeds come from the repository's own test material: the replay pcaps of
tests/data, the topology files of examples/ and tests/data, the YAML and flow
specs of the unit tests, plus hand-made frames of every kind and an API
request for every verb. Rerun after changing this script; inputs found by
fuzzing (crash-*, found-*) are kept.

    python3 fuzz/make_seeds.py
"""
import glob
import hashlib
import json
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = name.replace(".pcap", "")  # .gitignore ignores *.pcap
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def clear_seeds(target):
    for p in glob.glob(os.path.join(CORPUS, target, "seed-*")):
        os.remove(p)


# ---------------------------------------------------------------- frames

def mac(v):
    return v.to_bytes(6, "big")


BCAST = 0xFFFFFFFFFFFF
A, B, C = 0x020000000001, 0x020000000002, 0x52540000000A


def csum(data, init=0):
    if len(data) % 2:
        data += b"\0"
    s = init + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(dst, src, etype, payload=b"", tags=(), pad=60):
    b = mac(dst) + mac(src)
    for tpid, vid, pcp in tags:
        b += struct.pack("!HH", tpid, (pcp << 13) | vid)
    b += struct.pack("!H", etype) + payload
    return b + b"\xab" * max(0, pad - len(b))


def ipv4(proto, l4, src=0x0A000001, dst=0x0A000002, ttl=64, ident=1):
    h = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(l4), ident, 0, ttl, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + l4


def ipv6(nh, l4, src=b"\xfe\x80" + b"\0" * 13 + b"\1", dst=b"\xfe\x80" + b"\0" * 13 + b"\2"):
    return struct.pack("!IHBB", 0x60000000, len(l4), nh, 64) + src + dst + l4


def tcp(payload=b"", sport=40000, dport=80, seq=1000, flags=0x18, doff=5):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, doff << 4, flags, 65535, 0, 0) + b"\0" * (doff * 4 - 20) * (doff > 5) + payload


def udp(payload=b"", sport=5353, dport=53):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def arp(op=1, sha=A, spa=0x0A000001, tpa=0x0A000002):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac(sha) + struct.pack("!I", spa) + mac(0) + struct.pack("!I", tpa)


def frames_of_every_kind():
    icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"ping" * 8
    return {
        "untagged-bcast-arp": eth(BCAST, A, 0x0806, arp()),
        "untagged-unicast-ip": eth(B, A, 0x0800, ipv4(1, icmp)),
        "tagged-10-tcp": eth(B, A, 0x0800, ipv4(6, tcp(b"x" * 100)), tags=[(0x8100, 10, 3)]),
        "tagged-20-udp": eth(BCAST, C, 0x0800, ipv4(17, udp(b"q" * 30)), tags=[(0x8100, 20, 0)]),
        "tagged-30": eth(B, C, 0x0800, ipv4(1, icmp), tags=[(0x8100, 30, 7)]),
        "tagged-100": eth(BCAST, A, 0x0806, arp(), tags=[(0x8100, 100, 1)]),
        "tagged-4094": eth(BCAST, A, 0x0806, arp(), tags=[(0x8100, 4094, 0)]),
        "tagged-4095": eth(BCAST, A, 0x0806, arp(), tags=[(0x8100, 4095, 0)]),
        "priority-tag": eth(BCAST, A, 0x0806, arp(), tags=[(0x8100, 0, 5)]),
        "qinq-88a8": eth(BCAST, A, 0x0800, ipv4(17, udp()), tags=[(0x88A8, 100, 2), (0x8100, 10, 4)]),
        "double-8100": eth(BCAST, A, 0x0800, ipv4(17, udp()), tags=[(0x8100, 20, 0), (0x8100, 10, 6)]),
        "triple-tag": eth(BCAST, A, 0x0800, b"", tags=[(0x8100, 10, 0), (0x8100, 20, 0), (0x8100, 30, 0)]),
        "ipv6-udp": eth(0x333300010002, A, 0x86DD, ipv6(17, udp(b"d" * 20, 546, 547))),
        "ipv6-tcp-tagged": eth(B, A, 0x86DD, ipv6(6, tcp(b"y" * 40)), tags=[(0x8100, 10, 0)]),
        "runt": mac(BCAST) + mac(A),
        "short-tag": mac(BCAST) + mac(A) + b"\x81\x00\x00",
        "reserved-dst": eth(0x0180C2000000, A, 0x88CC, b"lldp"),
        "multicast-src": eth(BCAST, 0x010000000001, 0x0800, ipv4(1, icmp)),
        "zero-src": eth(BCAST, 0, 0x0800, ipv4(1, icmp)),
        "jumbo": eth(B, A, 0x0800, ipv4(17, udp(b"j" * 8900))),
        "over-1500": eth(B, A, 0x0800, ipv4(17, udp(b"o" * 1480))),
        "truncated-ip": eth(B, A, 0x0800, b"\x45\x00"),
    }


# ---------------------------------------------------------------- pcap files

def pcap_records(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(end + "IIII", data[off:off + 16])
        out.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return out


def pcap_file(records, magic=0xA1B2C3D4, end="<", linktype=1, snaplen=262144):
    b = struct.pack(end + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for i, r in enumerate(records):
        b += struct.pack(end + "IIII", 1700000000 + i, 999999 if magic == 0xA1B2C3D4 else 999999999, len(r), len(r) + 4) + r
    return b


REPLAY_PCAPS = sorted(glob.glob(os.path.join(ROOT, "tests/data/replay/*/*.pcap")))

# ---------------------------------------------------------------- targets

# flow_switch port indexes (fuzz/flow_switch.cc): sw ports 0-9, the patch pair
# 10 (sw side) and 11 (lb side), lb ports 12-13.
N_PORTS = 14


def record(port, frame, ts=0, vnet=None, join=False, trace=False, dry=False):
    h0 = port | (0x20 if vnet else 0) | (0x40 if join else 0) | (0x80 if trace else 0)
    b = bytes([h0, ts | (1 if dry else 0), len(frame) >> 8, len(frame) & 0xFF])
    return b + (vnet or b"") + frame


def vnet_hdr(flags=0, gso_type=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0):
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def gso_tcp4(payload_len=4000, mss=1448, tagged=False):
    tags = [(0x8100, 10, 0)] if tagged else []
    f = eth(B, A, 0x0800, ipv4(6, tcp(b"g" * payload_len, flags=0x19)), tags=tags)
    l3 = 14 + 4 * len(tags)
    return vnet_hdr(1, 1, l3 + 40, mss, l3 + 20, 16), f


def gso_tcp6(payload_len=3000, mss=1000):
    f = eth(B, A, 0x86DD, ipv6(6, tcp(b"h" * payload_len)))
    return vnet_hdr(1, 4, 14 + 60, mss, 14 + 40, 16), f


def gso_udp4(payload_len=2500, mss=1200):
    f = eth(B, A, 0x0800, ipv4(17, udp(b"u" * payload_len)))
    return vnet_hdr(1, 5, 14 + 28, mss, 14 + 20, 6), f


def flow_switch():
    clear_seeds("flow_switch")
    kinds = frames_of_every_kind()
    for i, (name, f) in enumerate(kinds.items()):
        write("flow_switch", name, record(i % N_PORTS, f))
    # Every port floods a broadcast, then learns and gets a unicast answer.
    for p in range(N_PORTS):
        f = kinds["tagged-10-tcp"] if p in (2, 3, 4, 5, 6, 8, 10) else kinds["untagged-bcast-arp"]
        answer = eth(A, B, 0x0800, ipv4(1, b"\0" * 8), tags=[(0x8100, 10, 0)] if p in (2, 3, 10) else [])
        write("flow_switch", "port%d-learn-reply" % p, record(p, f) + record((p + 1) % N_PORTS, answer, ts=1))
    # Aging: learn, wait 61 s (sw ages after 60 s), send to the learned address.
    write("flow_switch", "aging", record(0, eth(BCAST, A, 0x0806, arp())) + record(7, eth(A, B, 0x0806, arp()), ts=61))
    # A batch of 32 frames from one port, and a table (16 entries) overflowing.
    write("flow_switch", "batch32", b"".join(record(2, eth(BCAST, A + i, 0x0800, ipv4(17, udp()), tags=[(0x8100, 20, 0)]), join=i > 0) for i in range(32)))
    write("flow_switch", "table-full", b"".join(record(0, eth(BCAST, A + i, 0x0806, arp())) for i in range(20)))
    # Frames from the replay pcaps, several per input.
    for path in REPLAY_PCAPS[:8]:
        recs = pcap_records(path)
        name = os.path.relpath(path, os.path.join(ROOT, "tests/data/replay")).replace("/", "-")
        write("flow_switch", "pcap-" + name, b"".join(record((i * 3) % N_PORTS, r, ts=i % 3) for i, r in enumerate(recs)))
    # Offloaded frames: GSO to ports that take them and to ports that segment.
    for p in (0, 2, 7, 8, 12, 13):
        v, f = gso_tcp4(tagged=p in (2, 8))
        write("flow_switch", "gso-tcp4-port%d" % p, record(p, f, vnet=v))
    v, f = gso_tcp6()
    write("flow_switch", "gso-tcp6", record(12, f, vnet=v))
    v, f = gso_udp4()
    write("flow_switch", "gso-udp4", record(0, f, vnet=v))
    v = vnet_hdr(1, 0, 0, 0, 34, 6)
    write("flow_switch", "needs-csum", record(0, eth(B, A, 0x0800, ipv4(17, udp(b"c" * 40))), vnet=v))
    # Traces: live and dry run.
    write("flow_switch", "trace", record(4, kinds["tagged-20-udp"], trace=True) + record(12, kinds["untagged-unicast-ip"]))
    write("flow_switch", "trace-dry", record(8, kinds["double-8100"], trace=True, dry=True))


def offload():
    clear_seeds("offload")
    for name, (v, f) in {
        "tcp4": gso_tcp4(), "tcp4-tagged": gso_tcp4(tagged=True), "tcp4-mss1": gso_tcp4(300, 1),
        "tcp6": gso_tcp6(), "udp4": gso_udp4(), "tcp4-one-segment": gso_tcp4(100, 1448),
    }.items():
        write("offload", name, v + f)
    v, f = gso_tcp4()
    write("offload", "ecn-only", vnet_hdr(1, 0x80, 54, 1448, 34, 16) + f)
    write("offload", "tcp4-ecn", vnet_hdr(1, 0x81, 54, 1448, 34, 16) + f)
    write("offload", "udp-ufo", vnet_hdr(1, 3, 42, 1200, 34, 6) + gso_udp4()[1])
    write("offload", "csum-udp", vnet_hdr(1, 0, 0, 0, 34, 6) + eth(B, A, 0x0800, ipv4(17, udp(b"c" * 40))))
    write("offload", "csum-tcp6", vnet_hdr(1, 0, 0, 0, 54, 16) + eth(B, A, 0x86DD, ipv6(6, tcp(b"t" * 10))))
    write("offload", "csum-out-of-frame", vnet_hdr(1, 0, 0, 0, 58, 200) + eth(B, A, 0x0800, ipv4(17, udp())))
    write("offload", "plain", vnet_hdr() + frames_of_every_kind()["tagged-10-tcp"])
    write("offload", "tcp-options", vnet_hdr(1, 1, 66, 500, 34, 16) + eth(B, A, 0x0800, ipv4(6, tcp(b"o" * 1200, doff=8))))
    # A kernel VTEP's inner frames: the TCP checksum field holds the folded
    # pseudo-header sum (partial), no offload metadata; a short one and a
    # super-frame (gso_size 1432 stands for a 1500-byte MTU in the target).
    for name, n in (("kernel-vtep-partial", 200), ("kernel-vtep-super-frame", 5000)):
        seg = tcp(b"k" * n, flags=0x10)
        ps = 6 + len(seg) + sum(struct.unpack("!4H", struct.pack("!II", 0x0A000001, 0x0A000002)))
        partial = ~csum(b"", ps) & 0xFFFF
        seg = seg[:16] + struct.pack("!H", partial) + seg[18:]
        write("offload", name, vnet_hdr(0, 0, 0, 1432, 0, 0) + eth(B, A, 0x0800, ipv4(6, seg)))


def tunnel_decap():
    clear_seeds("tunnel_decap")
    kinds = frames_of_every_kind()
    udp6, tagged = kinds["ipv6-udp"], kinds["qinq-88a8"]
    tcp4 = eth(B, A, 0x0800, ipv4(6, tcp(b"x" * 20)))

    def vxlan(vni, flags=0x08):
        return struct.pack("!B3xI", flags, vni << 8)

    def geneve_opt(cls, typ, data=b""):
        return struct.pack("!HBB", cls, typ, len(data) // 4) + data

    def geneve(vni, opts=b"", oc=0, proto=0x6558, ver=0):
        return struct.pack("!BBHI", ver << 6 | len(opts) // 4, oc, proto, vni << 8) + opts

    def gre(c=False, k=None, s=None, proto=0x6558, extra=0):
        flags = (0x8000 if c else 0) | (0x2000 if k is not None else 0) | (0x1000 if s is not None else 0) | extra
        b = struct.pack("!HH", flags, proto)
        if c:
            b += struct.pack("!HH", 0xBEEF, 0)
        if k is not None:
            b += struct.pack("!I", k)
        if s is not None:
            b += struct.pack("!I", s)
        return b

    def ipv4_gre(payload, ihl=5, frag=0x4000, src=0xC0A80001, dst=0xC0A80002, total=None):
        h = struct.pack("!BBHHHBBHII", 0x40 | ihl, 0, total or 4 * ihl + len(payload), 7, frag, 64, 47, 0, src, dst)
        h += b"\x01" * (4 * ihl - 20)
        return h + payload

    two_opts = geneve_opt(0x0102, 0x03, b"\xaa" * 4) + geneve_opt(0x0104, 0x85, b"\xbb" * 12)
    seeds = {
        "vxlan": vxlan(0x123456) + tcp4,
        "vxlan-ipv6": vxlan(1) + udp6,
        "vxlan-tagged": vxlan(0xFFFFFF) + tagged,
        "vxlan-all-flags": vxlan(7, 0xFF) + tcp4,
        "vxlan-i-clear": vxlan(7, 0x00) + tcp4,
        "vxlan-short-inner": vxlan(7) + tcp4[:13],
        "vxlan-truncated": vxlan(7)[:5],
        "geneve": geneve(0x10) + tcp4,
        "geneve-two-options": geneve(0xABCDEF, two_opts, 0x40) + udp6,
        "geneve-oam": geneve(0x10, geneve_opt(0x0001, 0x01), 0x80) + tcp4,
        "geneve-max-options": geneve(5, b"".join(geneve_opt(i, 1) for i in range(63))) + tcp4,
        "geneve-tlv-overrun": geneve(5, geneve_opt(1, 1, b"\0" * 4)[:3] + b"\x02" + b"\0" * 4) + tcp4,
        "geneve-options-overrun": geneve(5, two_opts)[:20],
        "geneve-version-1": geneve(5, ver=1) + tcp4,
        "geneve-ipv4-protocol": geneve(5, proto=0x0800) + tcp4[14:],
        "gre": gre() + tcp4,
        "gre-key": gre(k=0xDEADBEEF) + tcp4,
        "gre-nvgre": gre(k=0x12345600 | 0x2A) + udp6,
        "gre-csum-key-seq": gre(c=True, k=99, s=1) + tagged,
        "gre-csum-seq": gre(c=True, s=1) + tcp4,
        "gre-routing": gre(k=1, extra=0x4000) + tcp4,
        "gre-version-1": gre(k=1, extra=1) + tcp4,
        "gre-fields-truncated": gre(c=True, k=99, s=1)[:10],
        "ipv4-gre-key": ipv4_gre(gre(k=0x0A0B0C0D) + tcp4),
        "ipv4-gre-ip-options": ipv4_gre(gre(k=5) + udp6, ihl=6),
        "ipv4-gre-padded": ipv4_gre(gre() + tcp4) + b"\0" * 6,
        "ipv4-gre-fragment": ipv4_gre(gre(k=5) + tcp4, frag=0x2000),
        "ipv4-gre-total-too-long": ipv4_gre(gre(k=5) + tcp4, total=2000),
        "ipv4-gre-truncated": ipv4_gre(gre(k=5) + tcp4)[:30],
        "ipv4-udp": ipv4(17, udp(vxlan(1) + tcp4, 50000, 4789)),
        "empty": b"",
    }
    for name, data in seeds.items():
        write("tunnel_decap", name, data)


def pcap_reader():
    clear_seeds("pcap_reader")
    for path in REPLAY_PCAPS:
        name = os.path.relpath(path, os.path.join(ROOT, "tests/data/replay")).replace("/", "-")
        write("pcap_reader", name, open(path, "rb").read())
    recs = list(frames_of_every_kind().values())[:4]
    write("pcap_reader", "nsec", pcap_file(recs, 0xA1B23C4D))
    write("pcap_reader", "big-endian", pcap_file(recs, 0xA1B2C3D4, ">"))
    write("pcap_reader", "big-endian-nsec", pcap_file(recs, 0xA1B23C4D, ">"))
    write("pcap_reader", "pcapng", struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28))
    write("pcap_reader", "fcs", pcap_file(recs, linktype=0x04000001))
    write("pcap_reader", "linktype-raw", pcap_file(recs, linktype=101))
    write("pcap_reader", "truncated-record", pcap_file(recs)[:-10])
    write("pcap_reader", "truncated-header", pcap_file(recs)[:20])
    write("pcap_reader", "empty", pcap_file([]))
    write("pcap_reader", "huge-caplen", pcap_file([]) + struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 64))


def c_strings(path, must_contain):
    """String literals of a C++ file (plain and R"( raw) that contain a word."""
    text = open(path).read()
    out = [m.group(1) for m in re.finditer(r'R"\((.*?)\)"', text, re.S)]
    for m in re.finditer(r'(?<![R\w])"((?:[^"\\\n]|\\.)*)"', text):
        out.append(m.group(1).encode().decode("unicode_escape"))
    return [s for s in out if must_contain in s]


def topology():
    clear_seeds("topology")
    files = sorted(glob.glob(os.path.join(ROOT, "examples/*.yaml")) + glob.glob(os.path.join(ROOT, "tests/data/replay/*/topology.yaml")))
    for path in files:
        write("topology", os.path.relpath(path, ROOT).replace("/", "-"), open(path).read())
    for s in c_strings(os.path.join(ROOT, "tests/unit/ctl/topology_test.cc"), "bridges"):
        write("topology", "test-" + hashlib.sha1(s.encode()).hexdigest()[:12], s)
    for s in c_strings(os.path.join(ROOT, "tests/unit/daemon/service_test.cc"), "bridges"):
        write("topology", "svc-" + hashlib.sha1(s.encode()).hexdigest()[:12], s)


def flow_spec():
    clear_seeds("flow_spec")
    macs = "dl_src=52:54:00:00:00:01,dl_dst=52:54:00:00:00:02"
    specs = set()
    text = open(os.path.join(ROOT, "tests/unit/ctl/flow_spec_test.cc")).read()
    for m in re.finditer(r'(?:build|error_of)\((std::string\(kMacs\) \+\s*)?((?:"(?:[^"\\]|\\.)*"\s*)+)\)', text):
        s = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2)))
        specs.add((macs if m.group(1) else "") + s)
    for s in sorted(specs):
        write("flow_spec", hashlib.sha1(s.encode()).hexdigest()[:12], s)


def api_request():
    clear_seeds("api_request")
    yaml = "bridges:\n  - name: x\n    ports:\n      - {name: x1, type: internal, vlan_mode: access, pvid: 5}\n"
    reqs = [
        {"cmd": "ping"},
        {"cmd": "add-br", "bridge": "br9"},
        {"cmd": "add-br", "bridge": "lb9", "type": "learning", "options": {"mac_aging": "60", "mac_table_size": 100}},
        {"cmd": "add-br", "bridge": "br0", "may_exist": True},
        {"cmd": "del-br", "bridge": "b"},
        {"cmd": "del-br", "bridge": "nope", "if_exists": True},
        {"cmd": "list-br"},
        {"cmd": "add-port", "bridge": "br0", "port": "p9"},
        {"cmd": "add-port", "bridge": "br0", "port": "p9", "options": {"type": "internal", "vlan_mode": "trunk", "allowed": "10,20-30"}},
        {"cmd": "add-port", "bridge": "br0", "port": "p9", "options": {"type": "tap", "vlan_mode": "dot1q-tunnel", "pvid": 7, "cvlans": "1-5", "qinq_ethtype": "802.1q"}},
        {"cmd": "add-port", "bridge": "br0", "port": "p9", "options": {"type": "pcap", "tx": "out.pcap"}},
        {"cmd": "add-port", "bridge": "br0", "port": "missing1"},
        {"cmd": "add-port", "bridge": "b", "port": "pp", "options": {"type": "patch", "peer": "h/hp"}},
        {"cmd": "del-port", "port": "t1"},
        {"cmd": "del-port", "port": "b1", "bridge": "b"},
        {"cmd": "del-port", "port": "ct-web"},
        {"cmd": "del-port", "port": "zz", "if_exists": True},
        {"cmd": "set-port", "port": "t1", "options": {"vlan_mode": "native-untagged", "pvid": "20", "priority_tags": "if-nonzero"}},
        {"cmd": "set-port", "port": "a1", "options": {"pvid": ""}},
        {"cmd": "set-port", "port": "h1", "options": {"mtu": 9000}},
        {"cmd": "set-bridge", "bridge": "br0", "options": {"mac_aging": "30"}},
        {"cmd": "set-bridge", "bridge": "b", "options": {"mac_table_size": 4}},
        {"cmd": "set-bridge", "bridge": "br0", "options": {"colour": "red"}},
        {"cmd": "fdb-add", "bridge": "br0", "vlan": 10, "mac": "02:00:00:00:00:09", "port": "a1"},
        {"cmd": "fdb-add", "bridge": "b", "mac": "02:00:00:00:00:09", "port": "b1"},
        {"cmd": "fdb-del", "bridge": "br0", "vlan": 10, "mac": "02:00:00:00:00:01"},
        {"cmd": "fdb-show", "bridge": "br0"},
        {"cmd": "fdb-flush", "bridge": "br0"},
        {"cmd": "show"},
        {"cmd": "stats"},
        {"cmd": "stats", "port": "a1"},
        {"cmd": "trace", "bridge": "br0", "in_port": "a1", "flow": "dl_src=52:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp"},
        {"cmd": "trace", "bridge": "br0", "in_port": "t1", "flow": "dl_vlan=20,udp,tp_dst=53"},
        {"cmd": "trace", "bridge": "b", "in_port": "b1", "flow": "dl_src=02:00:00:00:00:05,tcp"},
        {"cmd": "apply", "yaml": yaml, "file": "t.yaml"},
        {"cmd": "apply", "yaml": "bridges: []\n"},
        {"cmd": "apply", "yaml": "bridges:\n  - {name: a, bogus: 1}\n", "file": "x.yaml", "base_dir": "/tmp"},
        {"cmd": "export"},
        {"cmd": "ct-add", "name": "db", "bridge": "br0", "ip": "10.0.0.3/24", "gw": "10.0.0.1", "mac": "02:00:00:00:00:33"},
        {"cmd": "ct-add", "name": "app", "bridge": "br0", "port": "ct-app", "options": {"pvid": "10"}},
        {"cmd": "ct-del", "name": "web"},
        {"cmd": "ct-list"},
        {"cmd": "nope"},
        ["cmd", "ping"],
        {"cmd": 5},
    ]
    for r in reqs:
        line = json.dumps(r) + "\n"
        write("api_request", (r["cmd"] if isinstance(r, dict) and isinstance(r.get("cmd"), str) else "bad") + "-" +
              hashlib.sha1(line.encode()).hexdigest()[:8], line)
    write("api_request", "not-json", "{\"cmd\": \"ping\"\n")


def firewall():
    """Conversations through fuzz/firewall.cc's ports: a (0, filtered, port
    security: MAC A 10.0.0.1, MAC A2 10.0.0.128/25 and fd00::1), b (1, open),
    c (2, lets UDP 5000-5010 in)."""
    clear_seeds("firewall")
    A2 = 0x020000000011
    ip_a, ip_b, ip_c = 0x0A000001, 0x0A000002, 0x0A000003
    v6_a = b"\xfd" + b"\0" * 14 + b"\1"
    v6_b = b"\xfd" + b"\0" * 14 + b"\2"

    def rec(port, frame, ts=0, join=False, trace=False, dry=False):
        h0 = port | (4 if join else 0) | (0x80 if trace else 0)
        return bytes([h0, ts | (1 if dry else 0), len(frame) >> 8, len(frame) & 0xFF]) + frame

    def t4(src_mac, dst_mac, src, dst, sport, dport, flags, payload=b""):
        return eth(dst_mac, src_mac, 0x0800, ipv4(6, tcp(payload, sport, dport, flags=flags), src, dst))

    def u4(src_mac, dst_mac, src, dst, sport, dport, payload=b"u" * 8):
        return eth(dst_mac, src_mac, 0x0800, ipv4(17, udp(payload, sport, dport), src, dst))

    def icmp4(src_mac, dst_mac, src, dst, typ, code=0, body=b"ping" * 4):
        h = struct.pack("!BBHHH", typ, code, 0, 7, 1) if typ in (0, 8) else struct.pack("!BBHI", typ, code, 0, 0)
        return eth(dst_mac, src_mac, 0x0800, ipv4(1, h + body, src, dst))

    SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
    web = (rec(0, t4(A, B, ip_a, ip_b, 40000, 80, SYN)) + rec(1, t4(B, A, ip_b, ip_a, 80, 40000, SYN | ACK)) +
           rec(0, t4(A, B, ip_a, ip_b, 40000, 80, ACK)) + rec(0, t4(A, B, ip_a, ip_b, 40000, 80, PSH | ACK, b"GET /")) +
           rec(1, t4(B, A, ip_b, ip_a, 80, 40000, PSH | ACK, b"200 OK")) + rec(0, t4(A, B, ip_a, ip_b, 40000, 80, FIN | ACK)) +
           rec(1, t4(B, A, ip_b, ip_a, 80, 40000, FIN | ACK)) + rec(0, t4(A, B, ip_a, ip_b, 40000, 80, ACK)))
    write("firewall", "tcp-web-out", web)
    write("firewall", "tcp-in-22-and-denied-23",
          rec(1, t4(B, A, ip_b, ip_a, 50000, 22, SYN)) + rec(0, t4(A, B, ip_a, ip_b, 22, 50000, SYN | ACK)) +
          rec(1, t4(B, A, ip_b, ip_a, 50001, 23, SYN)) + rec(1, t4(B, A, ip_b, ip_a, 50002, 22, ACK)))
    write("firewall", "spoofing",
          rec(0, u4(A, B, 0x0A000009, ip_b, 5000, 53)) + rec(0, u4(0x020000000099, B, ip_a, ip_b, 5000, 53)) +
          rec(0, eth(BCAST, A, 0x0806, arp(2, A, ip_b, ip_c))) + rec(0, eth(BCAST, A, 0x0806, arp(1, A, ip_a, ip_b))) +
          rec(0, eth(BCAST, A2, 0x0806, arp(1, A2, 0x0A000081, ip_b))) + rec(0, u4(A2, B, 0x0A000090, ip_b, 6000, 53)))
    write("firewall", "udp-to-c-and-back",
          rec(1, u4(B, C, ip_b, ip_c, 7000, 5001)) + rec(2, u4(C, B, ip_c, ip_b, 5001, 7000)) +
          rec(1, u4(B, C, ip_b, ip_c, 7000, 6000)) + rec(2, u4(C, B, ip_c, ip_b, 9999, 7001), ts=40))
    quoted = ipv4(6, tcp(b"", 40000, 80, flags=SYN), ip_a, ip_b)[:28]
    write("firewall", "icmp-echo-and-error",
          rec(1, icmp4(B, A, ip_b, ip_a, 8)) + rec(0, icmp4(A, B, ip_a, ip_b, 0)) +
          rec(0, t4(A, B, ip_a, ip_b, 40000, 80, SYN)) + rec(1, icmp4(B, A, ip_b, ip_a, 3, 3, quoted)) +
          rec(1, icmp4(B, A, ip_b, ip_a, 11, 0, quoted[:20] + b"\0" * 8)))
    write("firewall", "ipv6-443-in",
          rec(1, eth(A2, B, 0x86DD, ipv6(6, tcp(b"", 41000, 443, flags=SYN), v6_b, v6_a))) +
          rec(0, eth(B, A2, 0x86DD, ipv6(6, tcp(b"", 443, 41000, flags=SYN | ACK), v6_a, v6_b))) +
          rec(0, eth(B, A2, 0x86DD, ipv6(58, struct.pack("!BBHI", 134, 0, 0, 0), v6_a, v6_b))))
    write("firewall", "dhcp",
          rec(0, u4(A, BCAST, 0, 0xFFFFFFFF, 68, 67)) + rec(1, u4(B, A, ip_b, ip_a, 67, 68)) +
          rec(0, u4(A, BCAST, ip_a, 0xFFFFFFFF, 67, 68)))
    write("firewall", "table-full",
          b"".join(rec(1, u4(B, C, ip_b, ip_c, 10000 + i, 5000 + i % 11), join=i % 8 > 0) for i in range(80)) +
          rec(1, u4(B, C, ip_b, ip_c, 20000, 5005), ts=31))
    write("firewall", "trace", rec(1, t4(B, A, ip_b, ip_a, 50000, 22, SYN), trace=True) + rec(0, u4(A, B, 0x0A000009, ip_b, 1, 2)))
    write("firewall", "trace-dry", rec(0, t4(A, B, ip_a, ip_b, 40000, 80, SYN), trace=True, dry=True))
    for name, f in frames_of_every_kind().items():
        write("firewall", "kind-" + name, rec(0, f) + rec(1, f) + rec(2, f))


def fastpath_key():
    clear_seeds("fastpath_key")
    icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"ping" * 8
    frames = dict(frames_of_every_kind())
    frames.update({
        "tcp-syn": eth(B, A, 0x0800, ipv4(6, tcp(flags=0x02))),
        "tcp-fin": eth(B, A, 0x0800, ipv4(6, tcp(flags=0x11))),
        "dhcp": eth(BCAST, A, 0x0800, ipv4(17, udp(b"d" * 20, 68, 67))),
        "icmp-error": eth(B, A, 0x0800, ipv4(1, struct.pack("!BBHI", 3, 3, 0, 0) + b"\0" * 28)),
        "fragment": eth(B, A, 0x0800, ipv4(17, udp())[:6] + b"\x20\x00" + ipv4(17, udp())[8:]),
        "ipv6-icmp-echo": eth(B, A, 0x86DD, ipv6(58, struct.pack("!BBHHH", 128, 0, 0, 7, 1) + b"x" * 8)),
        "ipv6-nd": eth(B, A, 0x86DD, ipv6(58, struct.pack("!BBHI", 135, 0, 0, 0) + b"\0" * 16)),
        "ipv6-hop-by-hop": eth(B, A, 0x86DD, ipv6(0, b"\x3a\0" + b"\0" * 6 + struct.pack("!BBH", 143, 0, 0))),
        "icmp-echo-tagged": eth(B, A, 0x0800, ipv4(1, icmp), tags=[(0x8100, 10, 0)]),
    })
    for name, f in frames.items():
        write("fastpath_key", "l2-" + name, b"\0" + f)
        write("fastpath_key", "l4-" + name, b"\1" + f)


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["firewall"]:
        firewall()
        sys.exit(0)
    firewall()
    fastpath_key()
    flow_switch()
    offload()
    tunnel_decap()
    pcap_reader()
    topology()
    flow_spec()
    api_request()
