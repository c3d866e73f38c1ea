#!/usr/bin/env python3
"""Traffic for the firewall tests, run inside a container's namespace.

  serve READY_FILE [tcp=P,P..] [udp=P,P..]   echo servers on :: (IPv4 and IPv6)
                                              for those ports; touches READY_FILE
                                              once every socket is bound
  probe [--timeout S] SPEC...                 probes in parallel, one line each:
                                              "SPEC open|refused|timeout"
        SPEC: tcp/ADDR/PORT  udp/ADDR/PORT  icmp/ADDR
  stream ADDR PORT COUNT_FILE [SECONDS]       a long-lived TCP connection: sends
                                              64 bytes every 20 ms, writes the
                                              number of bytes echoed back so far
                                              to COUNT_FILE; stops after SECONDS
                                              (default 30) or when killed
  send IFACE KIND KEY=VALUE... [-- KIND ...]  crafted Ethernet frames out of IFACE
                                              (AF_PACKET), checksums right, each
                                              `count` times (default 1):
        arp     src dst op sha spa tha tpa
        tcp     src dst sip dip sport dport flags (S, A, SA, R, F...)
        udp     src dst sip dip sport dport           (IPv4 or IPv6 by address)
        ra      src dst sip dip                       (ICMPv6 router advertisement)
        na      src dst sip dip target                (ICMPv6 neighbour advertisement)
  sniff IFACE SECONDS READY_FILE STOP_FILE HEX...
                                              counts the frames IFACE receives
                                              that hold all the byte strings HEX
                                              (e.g. a MAC and an address); prints
                                              the count 0.2 s after STOP_FILE
                                              appears (SECONDS at most)

"open": TCP connected and the echo came back / UDP echo came back / ping
answered. "refused": TCP RST or ICMP port unreachable. "timeout": nothing
within the timeout (default 1 s): what a firewall drop looks like.
Standard library only.
"""
import ipaddress
import os
import socket
import struct
import subprocess
import sys
import threading
import time


def serve(ready, specs):
    socks = []
    for spec in specs:
        proto, ports = spec.split("=")
        for port in ports.split(","):
            kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
            s = socket.socket(socket.AF_INET6, kind)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", int(port)))
            if proto == "tcp":
                s.listen(64)
            socks.append((proto, s))
    for proto, s in socks:
        threading.Thread(target=tcp_accept if proto == "tcp" else udp_echo, args=(s,), daemon=True).start()
    open(ready, "w").close()
    while True:
        time.sleep(3600)


def tcp_accept(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_echo, args=(c,), daemon=True).start()


def tcp_echo(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()


def udp_echo(s):
    while True:
        d, a = s.recvfrom(65536)
        s.sendto(d, a)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def probe_one(spec, timeout):
    parts = spec.split("/")
    proto, addr = parts[0], parts[1]
    if proto == "icmp":
        r = subprocess.run(["ping", "-n", "-q", "-c", "1", "-W", str(max(1, round(timeout))), addr],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return "open" if r.returncode == 0 else "timeout"
    port = int(parts[2])
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family(addr), kind)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        s.send(b"probe " + spec.encode())
        return "open" if s.recv(100) else "timeout"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "timeout"
    except OSError as e:  # EHOSTUNREACH: no neighbour answered
        return "timeout" if e.errno in (113, 101) else "error:%s" % e.errno
    finally:
        s.close()


def probe(args):
    timeout = 1.0
    if args and args[0] == "--timeout":
        timeout, args = float(args[1]), args[2:]
    out, took = {}, {}

    def one(sp):
        t0 = time.monotonic()
        out[sp] = probe_one(sp, timeout)
        took[sp] = time.monotonic() - t0

    threads = [threading.Thread(target=one, args=(sp,)) for sp in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sp in args:  # FW_PROBE_TIMES=1: each probe's duration too (debugging)
        print(sp, out[sp], *(["%.2fs" % took[sp]] if os.environ.get("FW_PROBE_TIMES") else []))


def stream(addr, port, count_file, seconds=30):
    end = time.monotonic() + float(seconds)
    s = socket.create_connection((addr, int(port)), timeout=1)
    s.settimeout(0.02)
    got = 0

    def record():
        with open(count_file + ".tmp", "w") as f:
            f.write("%d\n" % got)
        os.replace(count_file + ".tmp", count_file)

    record()
    while time.monotonic() < end:
        try:
            s.send(b"x" * 64)
        except OSError:
            pass
        try:
            d = s.recv(65536)
            if d:
                got += len(d)
                record()
        except (socket.timeout, TimeoutError, BlockingIOError):
            pass
        except OSError:
            time.sleep(0.02)


# ------------------------------------------------------------ crafted frames

def mac(m):
    return bytes(int(x, 16) for x in m.split(":"))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip_packet(sip, dip, proto, l4):
    """IPv4 or IPv6 header + l4, with the L4 checksum filled in (offset by proto)."""
    s, d = ipaddress.ip_address(sip), ipaddress.ip_address(dip)
    ck_ofs = {6: 16, 17: 6, 58: 2, 1: 2}[proto]
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, proto, len(l4))
        if proto != 1:
            l4 = l4[:ck_ofs] + struct.pack("!H", csum(pseudo + l4)) + l4[ck_ofs + 2:]
        else:
            l4 = l4[:ck_ofs] + struct.pack("!H", csum(l4)) + l4[ck_ofs + 2:]
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, s.packed, d.packed)
        hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        return 0x0800, hdr + l4
    pseudo = s.packed + d.packed + struct.pack("!IxxxB", len(l4), proto)
    l4 = l4[:ck_ofs] + struct.pack("!H", csum(pseudo + l4)) + l4[ck_ofs + 2:]
    hop = 255 if proto == 58 else 64
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(l4), proto, hop, s.packed, d.packed)
    return 0x86DD, hdr + l4


TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}


def build(kind, kv):
    if kind == "arp":
        op = {"request": 1, "reply": 2}[kv.get("op", "reply")]
        body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, mac(kv["sha"]),
                           ipaddress.ip_address(kv["spa"]).packed, mac(kv.get("tha", "00:00:00:00:00:00")),
                           ipaddress.ip_address(kv["tpa"]).packed)
        return 0x0806, body
    if kind == "tcp":
        flags = sum(TCP_FLAGS[c] for c in kv.get("flags", "A"))
        seq, ack = int(kv.get("seq", "1000")), int(kv.get("ack", "2000"))
        l4 = struct.pack("!HHIIBBHHH", int(kv["sport"]), int(kv["dport"]), seq, ack, 0x50, flags, 65535, 0, 0)
        return ip_packet(kv["sip"], kv["dip"], 6, l4)
    if kind == "udp":
        payload = b"\x02\x01\x06\x00" + b"\0" * 236 if kv.get("dhcp") else b"kvnet"
        l4 = struct.pack("!HHHH", int(kv["sport"]), int(kv["dport"]), 8 + len(payload), 0) + payload
        return ip_packet(kv["sip"], kv["dip"], 17, l4)
    if kind == "ra":
        # type 134, code 0, checksum, hop limit 64, flags 0, router lifetime 1800,
        # reachable 0, retrans 0, then a source link-layer address option.
        l4 = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + b"\x01\x01" + mac(kv["src"])
        return ip_packet(kv["sip"], kv["dip"], 58, l4)
    if kind == "na":
        # type 136, code 0, checksum, flags (override), target, then a target
        # link-layer address option.
        l4 = (struct.pack("!BBHI", 136, 0, 0, 0x20000000) + ipaddress.ip_address(kv["target"]).packed +
              b"\x02\x01" + mac(kv["src"]))
        return ip_packet(kv["sip"], kv["dip"], 58, l4)
    raise SystemExit("unknown frame kind " + kind)


def send(iface, args):
    """args: KIND KEY=VALUE... [-- KIND KEY=VALUE...]..."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    while args:
        n = args.index("--") if "--" in args else len(args)
        kind, kv = args[0], dict(a.split("=", 1) for a in args[1:n])
        args = args[n + 1:]
        ethertype, payload = build(kind, kv)
        frame = mac(kv["dst"]) + mac(kv["src"]) + struct.pack("!H", ethertype) + payload
        frame += b"\0" * max(0, 60 - len(frame))
        for _ in range(int(kv.get("count", "1"))):
            s.send(frame)


def sniff(iface, seconds, ready, stop, patterns):
    pats = [bytes.fromhex(p) for p in patterns]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
    s.bind((iface, 0))
    s.settimeout(0.05)
    open(ready, "w").close()
    end = time.monotonic() + float(seconds)
    n = 0
    while time.monotonic() < end:
        if os.path.exists(stop):  # the frames were sent: what is in flight, then done
            end = min(end, time.monotonic() + 0.2)
        try:
            f, addr = s.recvfrom(65536)
        except (socket.timeout, TimeoutError):
            continue
        if addr[2] != socket.PACKET_OUTGOING and all(p in f for p in pats):
            n += 1
    print(n)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve(args[0], args[1:])
    elif cmd == "probe":
        probe(args)
    elif cmd == "stream":
        stream(*args)
    elif cmd == "sniff":
        sniff(args[0], args[1], args[2], args[3], args[4:])
    elif cmd == "send":
        send(args[0], args[1:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
