#!/usr/bin/env python3
"""Raw-frame sender and receiver for tests/integration/fastpath_diff_test.sh.

  fastpath_diff.py recv IFACE OUT [UDP_PORT]
      records every marked frame IFACE receives (its id and the VLAN tag it
      arrived with) until SIGTERM, then writes them to OUT, a line each.
      With UDP_PORT it also holds a UDP socket on that port, so that the
      namespace's stack swallows what is sent to it (no ICMP errors).
  fastpath_diff.py send IFACE PLAN
      sends the frames PLAN lists (a JSON list of frames: dst, src, vlan,
      src_ip, dst_ip, sport, dport, id), a millisecond apart.

A marked frame is IPv4/UDP whose payload starts with b"KVD" and a 32-bit id.
"""
import json
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
MARK = b"KVD"


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(":"))


def ip_checksum(h):
    s = sum(struct.unpack("!10H", h))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def frame(f):
    payload = MARK + struct.pack("!I", f["id"]) + bytes(32)
    udp = struct.pack("!HHHH", f["sport"], f["dport"], 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), f["id"] & 0xFFFF, 0x4000, 64, 17, 0,
                     socket.inet_aton(f["src_ip"]), socket.inet_aton(f["dst_ip"]))
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    eth = mac_bytes(f["dst"]) + mac_bytes(f["src"])
    if f.get("vlan"):
        eth += struct.pack("!HH", 0x8100, f["vlan"])
    return eth + struct.pack("!H", 0x0800) + ip + udp


def send(iface, plan_file):
    plan = json.load(open(plan_file))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for f in plan:
        for _ in range(50):
            try:
                s.send(frame(f))
                break
            except OSError:  # a full queue, or the link just went down: the same in both modes
                time.sleep(0.002)
        time.sleep(0.001)


def recv(iface, out, udp_port=None):
    holder = None
    if udp_port:
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        holder.bind(("0.0.0.0", int(udp_port)))
        holder.setblocking(False)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((iface, 0))
    got = []
    done = [False]

    def stop(*_):
        done[0] = True

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while not done[0]:
        socks = [s] + ([holder] if holder else [])
        r, _, _ = select.select(socks, [], [], 0.2)
        if holder in r:
            try:
                while True:
                    holder.recv(2048)
            except BlockingIOError:
                pass
        if s not in r:
            continue
        while True:
            try:
                data, anc, _, addr = s.recvmsg(4096, socket.CMSG_SPACE(20), socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            vlan = 0
            for level, typ, d in anc:
                if level == SOL_PACKET and typ == PACKET_AUXDATA and len(d) >= 20:
                    status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", d[:20])
                    if status & TP_STATUS_VLAN_VALID:
                        vlan = tci & 0x0FFF
            off = 12
            while data[off:off + 2] in (b"\x81\x00", b"\x88\xa8"):
                vlan = vlan or (struct.unpack("!H", data[off + 2:off + 4])[0] & 0x0FFF)
                off += 4
            if data[off:off + 2] != b"\x08\x00":
                continue
            p = data[off + 2 + 20 + 8:]
            if p[:3] != MARK:
                continue
            got.append("%d %d" % (struct.unpack("!I", p[3:7])[0], vlan))
    with open(out, "w") as f:
        f.write("\n".join(got) + ("\n" if got else ""))


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3])
    else:
        recv(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
