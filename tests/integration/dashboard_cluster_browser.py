#!/usr/bin/env python3
"""Drives the dashboard of a kvnetd in a cluster in headless Chromium
(dashboard_cluster_test.sh), as dashboard_browser.py does (the DevTools
protocol over a pipe; its Chromium class). The checks run on the live page:

  1. the page found kvnetd in a cluster: the Cluster section and the
     picture's choice of view are shown;
  2. the hosts table lists every host of --hosts up (--this-host marked),
     the networks table every network of --networks (NAME:VNI:SUBNET), the
     store its endpoint (--store), reachable, the member answering and the
     revision;
  3. this host's picture (the default view) holds --host-ids and no host;
     "whole cluster" draws --cluster-ids (host:NAME, port:HOST/PORT,
     tunnel:A--B); "this host" and back again;
  4. --change (a shell command) runs while the cluster is shown: without a
     reload, the networks table comes to list --change-network and the
     picture to hold --change-ids;
  5. --down (a shell command that ends a host's kvnetd) runs: the hosts
     table comes to show --down-host down, and the picture draws it down;
  6. a screenshot of the whole page is written to --screenshot.

Exit status 0 if every check passed; otherwise 1 and the failed check on
stderr.
"""
import argparse
import os
import signal
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_browser import Chromium, failed, q  # noqa: E402


def csv(s):
    return [x for x in s.split(",") if x] if s else []


def on_picture(i):
    return "!!document.querySelector('#picture svg [id=' + CSS.escape(%s) + ']')" % q(i)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", default="chromium")
    ap.add_argument("--chromium-log", help="Chromium's own messages go here")
    ap.add_argument("--url", required=True, help="the dashboard's address")
    ap.add_argument("--hosts", required=True, help="NAME,...: hosts listed up")
    ap.add_argument("--this-host", required=True, help="the host whose dashboard this is")
    ap.add_argument("--networks", required=True, help="NAME:VNI:SUBNET,...: networks listed")
    ap.add_argument("--store", required=True, help="the store's endpoint, as the page must name it")
    ap.add_argument("--host-ids", required=True, help="ID,...: on this host's picture")
    ap.add_argument("--cluster-ids", required=True, help="ID,...: on the whole cluster's picture")
    ap.add_argument("--change", help="a shell command that changes the cluster while it is shown")
    ap.add_argument("--change-network", help="a network --change adds")
    ap.add_argument("--change-ids", default="", help="ID,...: on the cluster's picture after --change")
    ap.add_argument("--down", help="a shell command that ends --down-host's kvnetd")
    ap.add_argument("--down-host")
    ap.add_argument("--down-within", type=float, default=20, help="seconds for the page to show it down")
    ap.add_argument("--screenshot", required=True)
    a = ap.parse_args()

    # timeout(1) ends this script with SIGTERM: Chromium is closed all the same.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    chrome = Chromium(a.chromium, a.chromium_log)
    try:
        chrome.open(a.url)
        # 1. in a cluster: the section and the choice are shown
        chrome.wait("document.body && document.body.dataset.cluster", "the page asked for the cluster's status", 40)
        mode = chrome.js("document.body.dataset.cluster")
        if mode != "cluster":
            raise AssertionError("the page says this kvnetd is %s" % mode)
        for i in ("cluster-section", "picture-view"):
            chrome.wait("document.getElementById(%s).getClientRects().length > 0" % q(i), "#%s shown" % i, 10)
        print("cluster: the section and the choice of view are shown")

        # 2. hosts, networks, the store
        row = "document.querySelector('#cluster-hosts tr[data-host=' + CSS.escape(%s) + ']')"
        for h in csv(a.hosts):
            chrome.wait("(r => r && r.dataset.state === 'up' && r.querySelector('td.state').textContent === 'up')(%s)"
                        % (row % q(h)), "host %s listed up" % h, 20)
        cells = chrome.js("[...%s.cells].map(c => c.textContent)" % (row % q(a.this_host)))
        if "(this host)" not in cells[0] or not cells[2] or cells[6] != "now":
            raise AssertionError("this host's row: %r" % cells)
        for n in csv(a.networks):
            name, vni, subnet = n.split(":", 2)
            want = [name, vni, subnet, "1450"]
            got = chrome.wait("(r => r && [...r.cells].map(c => c.textContent))(document.querySelector("
                              "'#cluster-networks tr[data-network=' + CSS.escape(%s) + ']'))" % q(name),
                              "network %s listed" % name, 10)
            if got != want:
                raise AssertionError("network %s listed as %r, not %r" % (name, got, want))
        store = chrome.wait("(t => t.dataset.reachable && Object.fromEntries([...t.rows].map(r => [r.dataset.field, "
                            "r.cells[1].textContent])))(document.getElementById('cluster-store'))",
                            "the store's table filled", 10)
        if a.store not in store["endpoints"] or store["reachable"] != "yes" or a.store not in store["member"]:
            raise AssertionError("the store: %r" % store)
        if not store["revision"].split(" ")[0].isdigit() or "applied here" not in store["revision"]:
            raise AssertionError("the store's revision: %r" % store["revision"])
        if a.this_host not in store["host"] or "lease" not in store["host"]:
            raise AssertionError("this host's lease: %r" % store["host"])
        summary = chrome.js("document.getElementById('cluster-summary').textContent")
        print("hosts up: %s; networks: %s; store: %s, %s; %s"
              % (a.hosts, a.networks, store["endpoints"], store["member"], summary))

        # 3. the picture: this host, the whole cluster, and back
        def view(v, ids, what):
            chrome.wait("document.body.dataset.picture === 'loaded' && document.body.dataset.pictureView === %s" % q(v),
                        "the picture of %s drawn" % what, 20)
            for i in ids:
                chrome.wait(on_picture(i), "%s on the picture of %s" % (i, what), 10)

        view("host", csv(a.host_ids), "this host")
        if chrome.js("document.querySelectorAll('#picture svg [id^=\"host:\"]').length"):
            raise AssertionError("this host's picture draws hosts")
        chrome.js("document.getElementById('view-cluster').click()")
        view("cluster", csv(a.cluster_ids), "the whole cluster")
        if chrome.js("document.querySelectorAll('#picture svg script, #picture svg foreignObject').length"):
            raise AssertionError("the picture kept a script")
        chrome.js("document.getElementById('view-host').click()")
        view("host", csv(a.host_ids), "this host, again")
        chrome.js("document.getElementById('view-cluster').click()")
        view("cluster", csv(a.cluster_ids), "the whole cluster, again")
        print("picture: this host (%s), the whole cluster (%s), and back" % (a.host_ids, a.cluster_ids))

        # 4. a change while the cluster is shown: picked up by polling, no reload
        chrome.js("window.kvnetMark = 1")
        if a.change:
            subprocess.run(["bash", "-c", a.change], check=True, stdout=subprocess.DEVNULL, timeout=30)
            if a.change_network:
                chrome.wait("!!document.querySelector('#cluster-networks tr[data-network=' + CSS.escape(%s) + ']')"
                            % q(a.change_network), "network %s listed after the change" % a.change_network, 20)
            for i in csv(a.change_ids):
                chrome.wait(on_picture(i), "%s on the cluster's picture after the change" % i, 20)
            print("change: network %s listed, %s drawn" % (a.change_network or "-", a.change_ids or "-"))

        # 5. a host goes down
        if a.down:
            subprocess.run(["bash", "-c", a.down], check=True, timeout=30)
            chrome.wait("(r => r && r.dataset.state === 'down')(%s)" % (row % q(a.down_host)),
                        "host %s listed down" % a.down_host, a.down_within)
            chrome.wait("(e => e && /\\bdown\\b/.test(e.getAttribute('class')))(document.querySelector("
                        "'#picture svg [id=' + CSS.escape(%s) + ']'))" % q("host:" + a.down_host),
                        "host %s drawn down" % a.down_host, 15)
            seen = chrome.js("%s.querySelector('td.seen').textContent" % (row % q(a.down_host)))
            print("down: %s listed down (last seen %s) and drawn down; %s"
                  % (a.down_host, seen, chrome.js("document.getElementById('cluster-summary').textContent")))
        if chrome.js("window.kvnetMark") != 1:
            raise AssertionError("the page was loaded again")

        # 6. the screenshot
        chrome.screenshot(a.screenshot)
        print("screenshot: %s (%d bytes)" % (a.screenshot, os.path.getsize(a.screenshot)))
        return 0
    except (AssertionError, RuntimeError, TimeoutError, subprocess.SubprocessError) as e:
        return failed(chrome, a.screenshot, e)
    finally:
        chrome.close()


if __name__ == "__main__":
    sys.exit(main())
