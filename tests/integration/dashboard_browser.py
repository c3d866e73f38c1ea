#!/usr/bin/env python3
"""Drives kvnetd's dashboard in headless Chromium (dashboard_test.sh).

Chromium is driven through the DevTools protocol over a pipe
(--remote-debugging-pipe: JSON messages ending in NUL on fds 3 and 4), so
nothing beyond the Python standard library is needed. The checks run on the
live page's DOM, in real time:

  1. the page loads and lists every port of --ports in its port table, and
     draws each of them on the picture (--picture); with --standalone, it
     found kvnetd standalone and shows no Cluster section and no choice of
     the picture's view (dashboard_cluster_browser.py checks the cluster's);
  2. while --traffic runs, the rate of --busy-port rises above --min-pps,
     and falls back to 0 once the traffic stops;
  3. the trace form, filled from the address (?bridge=..&in_port=..&flow=..)
     and submitted by the page itself, lists steps and marks its path:
     the ports of --trace-path are highlighted on the picture and in the table,
     those of --off-path are not;
  4. a screenshot of the whole page is written to --screenshot.

Exit status 0 if every check passed; otherwise 1 and the failed check on
stderr.
"""
import argparse
import base64
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time


class Chromium:
    """One headless Chromium and the DevTools session of one page."""

    def __init__(self, binary, log=None, width=1400, height=1600):
        self.profile = tempfile.mkdtemp(prefix="kvnet-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():  # the child: the protocol's pipes on fds 3 (in) and 4 (out)
            import fcntl
            r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)  # out of the way of 3 and 4 first
            w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)
            os.setsid()

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height), "about:blank"]
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS="disabled:")
        # close_fds=False: subprocess would close fds 3 and 4 after preexec_fn
        # (Python's own descriptors are not inherited anyway).
        self.proc = subprocess.Popen(args, preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
                                     stderr=open(log, "w") if log else subprocess.DEVNULL, env=env)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.next_id = 0
        self.buf = b""
        self.session = None

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own process group (setsid)
            self.proc.wait()
        subprocess.run(["rm", "-rf", self.profile])

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer")
            r, _, _ = select.select([self.from_chrome], [], [], left)
            if r:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed its DevTools pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    def open(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False, timeout=60)
        self.session = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Page.navigate", {"url": url})

    def js(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError("page script failed: %s" % r["exceptionDetails"].get("text"))
        return r["result"].get("value")

    def wait(self, expression, what, timeout):
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError("%s (waited %d s; last value %r)" % (what, timeout, value))

    def screenshot(self, path):
        size = self.js("JSON.stringify([document.documentElement.scrollWidth, document.documentElement.scrollHeight])")
        w, h = json.loads(size)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": max(w, 1200), "height": min(max(h, 800), 6000), "deviceScaleFactor": 1, "mobile": False})
        png = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))


def q(s):
    return json.dumps(s)  # a JS string literal


def failed(chrome, screenshot, e):
    """Says why a check failed and keeps a screenshot of the page; 1."""
    print("FAIL: %s" % e, file=sys.stderr)
    try:
        chrome.screenshot(screenshot)
        print("screenshot of the failure: %s" % screenshot, file=sys.stderr)
    except Exception:
        pass
    return 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", default="chromium")
    ap.add_argument("--chromium-log", help="Chromium's own messages go here")
    ap.add_argument("--url", required=True, help="the dashboard's address, with the trace's query")
    ap.add_argument("--ports", required=True, help="BR/PORT,...: must be in the port table")
    ap.add_argument("--picture", action="store_true", help="the ports must be on the picture too")
    ap.add_argument("--standalone", action="store_true", help="kvnetd is standalone: no cluster section")
    ap.add_argument("--busy-port", required=True, help="BR/PORT whose rate --traffic raises")
    ap.add_argument("--traffic", required=True, help="a command that makes traffic until killed")
    ap.add_argument("--min-pps", type=float, default=50)
    ap.add_argument("--trace-path", required=True, help="BR/PORT,...: ports the trace crosses, in to out")
    ap.add_argument("--off-path", default="", help="BR/PORT,...: ports it does not cross")
    ap.add_argument("--screenshot", required=True)
    a = ap.parse_args()

    chrome = Chromium(a.chromium, a.chromium_log)
    traffic = None
    try:
        chrome.open(a.url)
        # 1. the topology
        chrome.wait("document.body && +document.body.dataset.samples >= 2", "the page polled its stats twice", 40)
        for key in a.ports.split(","):
            chrome.wait("!!document.querySelector('#ports tr[data-key=' + CSS.escape(%s) + ']')" % q(key),
                        "port %s in the port table" % key, 10)
            if a.picture:
                chrome.wait("!!document.querySelector('#picture svg [id=' + CSS.escape(%s) + ']')" % q(key),
                            "port %s on the picture" % key, 10)
        print("ports in the table%s: %s" % (" and on the picture" if a.picture else "", a.ports))
        if a.standalone:
            chrome.wait("document.body.dataset.cluster === 'standalone'", "the page found kvnetd standalone", 10)
            shown = chrome.js("['cluster-section', 'picture-view'].filter(id => document.getElementById(id).getClientRects().length)")
            if shown:
                raise AssertionError("standalone, yet the page shows %s" % ", ".join(shown))
            if chrome.js("document.querySelectorAll('#cluster-hosts tbody tr, #picture svg [id^=\"host:\"]').length"):
                raise AssertionError("standalone, yet the page lists hosts or draws one")
            print("standalone: no cluster section, no choice of view")

        # 2. rates while traffic runs, and after
        row = "document.querySelector('#ports tr[data-key=' + CSS.escape(%s) + ']')" % q(a.busy_port)
        idle = chrome.js("+%s.dataset.rxPps" % row)
        traffic = subprocess.Popen(shlex.split(a.traffic), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=os.setsid)
        pps = chrome.wait("(r => +r.dataset.rxPps >= %f && +r.dataset.rxPps)(%s)" % (a.min_pps, row),
                          "rx rate of %s above %g pkt/s while traffic runs" % (a.busy_port, a.min_pps), 15)
        shown = chrome.js("%s.querySelector('td.rx-pps').textContent" % row)
        os.killpg(traffic.pid, signal.SIGTERM)
        traffic.wait()
        traffic = None
        chrome.wait("+%s.dataset.rxPps === 0" % row, "rx rate of %s back to 0 after the traffic" % a.busy_port, 15)
        print("rates: %s rx %.1f pkt/s idle, %.0f pkt/s (shown '%s') with traffic, 0 after"
              % (a.busy_port, idle, pps, shown))

        # 3. the trace submitted by the page's form
        chrome.wait("document.body.dataset.trace", "the trace form was submitted", 15)
        status = chrome.js("document.body.dataset.trace")
        if status != "done":
            raise AssertionError("the trace failed: %s" % chrome.js("document.getElementById('trace-error').textContent"))
        steps = chrome.js("[...document.querySelectorAll('#trace-steps li')].map(li => li.textContent)")
        if not steps:
            raise AssertionError("the trace lists no steps")
        outputs = chrome.js("[...document.querySelectorAll('#trace-outputs li')].map(li => li.dataset.bridge + '/' + li.dataset.port)")
        path = a.trace_path.split(",")
        table_row = "document.querySelector('#ports tr[data-key=' + CSS.escape(%s) + ']')"
        on_picture = "document.querySelector('#picture svg [id=' + CSS.escape(%s) + ']')"
        for i, key in enumerate(path):
            chrome.wait("%s.classList.contains('hl')" % (table_row % q(key)), "port %s highlighted in the table" % key, 10)
            if a.picture:
                # kvnetd's picture marks the path: trace-in, trace, trace-out.
                cls = "trace-in" if i == 0 else "trace-out" if i == len(path) - 1 else "trace"
                chrome.wait("(e => e && e.classList.contains(%s))(%s)" % (q(cls), on_picture % q(key)),
                            "port %s marked '%s' on the picture" % (key, cls), 10)
        for key in a.off_path.split(",") if a.off_path else []:
            if chrome.js("%s.classList.contains('hl')" % (table_row % q(key))):
                raise AssertionError("port %s is highlighted in the table but is not on the path" % key)
            if a.picture and chrome.js("(e => !e || /\\b(hl|trace[-a-z]*)\\b/.test(e.getAttribute('class')))(%s)"
                                       % (on_picture % q(key))):
                raise AssertionError("port %s is missing or marked on the picture but is not on the path" % key)
        print("trace: %d steps, leaves through %s; highlighted: %s; not: %s"
              % (len(steps), ",".join(outputs), a.trace_path, a.off_path or "-"))

        # 4. the screenshot
        chrome.screenshot(a.screenshot)
        print("screenshot: %s (%d bytes)" % (a.screenshot, os.path.getsize(a.screenshot)))
        return 0
    except (AssertionError, RuntimeError, TimeoutError) as e:
        return failed(chrome, a.screenshot, e)
    finally:
        if traffic:
            os.killpg(traffic.pid, signal.SIGKILL)
            traffic.wait()
        chrome.close()


if __name__ == "__main__":
    sys.exit(main())
