#!/usr/bin/env python3
"""Runs one command on the serial shell of a QEMU guest started by hand (the
benchmark's Linux-bridge side), over its console socket, the way
`kvnetctl vm console --exec` does for kvnetd's VMs: the command sits between
two marker lines printed by printf from pieces, so the typed echo never
matches them. Prints the command's output; exits with its status.

Usage: guest_console.py SOCKET COMMAND [TIMEOUT_S]"""
import os, re, socket, sys, time

path, cmd = sys.argv[1], sys.argv[2]
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 60
nonce = str(os.getpid()) + str(int(time.time() * 1000) % 100000)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.sendall(("\x15printf 'KVNET-%%s-%%s\\n' BEGIN %s; %s\nprintf 'KVNET-%%s-%%s:%%d\\n' END %s $?\n" % (nonce, cmd, nonce)).encode())
buf, deadline = b"", time.time() + timeout
end = re.compile(rb"KVNET-END-" + nonce.encode() + rb":(\d+)\r?\n")
while not end.search(buf):
    if time.time() > deadline:
        sys.exit("guest_console: no answer within %.0f s" % timeout)
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    if not chunk:
        sys.exit("guest_console: the console closed")
    buf += chunk
text = buf.replace(b"\r", b"")
begin = b"KVNET-BEGIN-" + nonce.encode() + b"\n"
out = text[text.index(begin) + len(begin): text.index(b"KVNET-END-" + nonce.encode())]
out = out[: out.rfind(b"\n", 0, max(out.rfind(b"printf 'KVNET-"), 0)) + 1] if b"printf 'KVNET-" in out else out
sys.stdout.write(out.decode(errors="replace"))
sys.exit(int(end.search(buf).group(1)))
