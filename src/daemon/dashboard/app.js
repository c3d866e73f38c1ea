// kvnet's dashboard: reads kvnetd's JSON endpoints (/api/CMD, docs/api.md)
// and keeps the page up to date. Plain DOM, no library: every text from the
// daemon goes in through textContent, never as HTML.
//
// Polling: stats every second (rates = counter differences over the
// difference of the daemon's own clock, the answers' `time`), the
// configuration (show) every 5 s, tables every 3 s, the picture when what
// it shows changes or a trace asks for it.
//
// In a cluster (`cluster-status` says mode "cluster") the page also shows
// the Cluster section: the store every 5 s (with the networks, read from it
// while it answers), the hosts every 3 s (this host's own view, no store
// round trip); and the picture can show this host or the whole cluster
// (`draw` with cluster=true), redrawn when the hosts or networks change.
// Standalone, neither the section nor the choice is shown.
//
// The trace form can be filled and submitted from the address:
//   /?bridge=br0&in_port=p1&flow=icmp,...   (or the same after '#')
// For tests and scripts the page marks its progress on <body>:
// data-samples (stats polls so far), data-picture (loaded|none|error),
// data-picture-view (host|cluster: what the last picture shows),
// data-trace (done|error), data-cluster (cluster|standalone).
'use strict';

const STATS_MS = 1000, SHOW_MS = 5000, TABLES_MS = 3000;
const $ = (id) => document.getElementById(id);

const state = {
  info: null,        // /api/info
  show: null,        // the last `show`
  shape: {},         // {config, endpoints}: signatures of what the picture shows
  prev: null,        // {time, ports: {"br/p": counters}}
  samples: 0,
  trace: null,       // {bridge, in_port, flow} of the trace shown, or null
  traceResult: null,
  drawAvailable: true,
  pictureSeq: 0,
  view: 'host',      // what the picture shows: 'host' (this switch) or 'cluster'
  cluster: null,     // null until known, then true (in a cluster) or false (standalone)
  networks: null,    // the last `network-list`
  hosts: null,       // the last `cluster-hosts`
  settle: false,     // the cluster picture is drawn once more at the next hosts poll
};

// ------------------------------------------------------------------ API

async function api(cmd, params) {
  const q = params ? '?' + new URLSearchParams(params).toString() : '';
  const res = await fetch('/api/' + cmd + q, {cache: 'no-store'});
  const body = await res.json();
  if (!body.ok) throw new Error(body.error || ('HTTP ' + res.status));
  return body;
}

async function post(cmd, args) {
  const headers = {'Content-Type': 'application/json'};
  const token = $('token').value.trim();
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const res = await fetch('/api/' + cmd, {method: 'POST', headers, body: JSON.stringify(args || {})});
  const body = await res.json().catch(() => ({ok: false, error: 'HTTP ' + res.status}));
  if (!body.ok) throw new Error(body.error || ('HTTP ' + res.status));
  return body.result;
}

function setStatus(ok, text) {
  const s = $('status');
  s.textContent = text;
  s.className = 'status ' + (ok ? 'ok' : 'bad');
}

// ------------------------------------------------------------------ helpers

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-')) e.setAttribute(k, String(v));
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function fmtRate(v, unit) {
  if (!isFinite(v) || v <= 0) return '0';
  const units = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)) + (units[i] ? ' ' + units[i] : '') + (unit || '');
}

function fmtCount(v) { return Number(v).toLocaleString('en-US'); }

function fmtSeconds(s) {
  if (s < 0) return '–';
  if (s < 120) return s + ' s';
  if (s < 7200) return Math.floor(s / 60) + ' min';
  return Math.floor(s / 3600) + ' h';
}

function vlanText(p) {
  if (!p.vlan_mode) return '';
  let t = p.vlan_mode + ' ' + p.pvid;
  if (p.allowed) t += ' allowed ' + p.allowed;
  if (p.tagged) t += ' tagged ' + p.tagged;
  if (p.untagged) t += ' untagged ' + p.untagged;
  return t;
}

function replaceRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// ------------------------------------------------------------------ configuration

async function refreshShow() {
  const r = await api('show');
  state.show = r.result;
  const shape = JSON.stringify({
    b: r.result.bridges.map((b) => [b.name, b.type, b.ports.map((p) => [p.name, p.type, vlanText(p), !!p.error])]),
    c: r.result.containers.map((c) => c.name),
  });
  renderPortRows(r.result);
  renderTraceChoices(r.result);
  redrawIfChanged('config', shape);
}

// The picture shows the configuration and live states (ports down, VMs,
// container namespaces), or in the cluster view the hosts and networks:
// drawn again when one of the parts of the view shown changes.
function redrawIfChanged(part, signature, view) {
  if (state.shape[part] === signature) return;
  const first = state.shape[part] === undefined && part !== 'config';
  state.shape[part] = signature;
  if (first || (view || 'host') !== state.view) return;
  refreshPicture();
  // A host's registration (what the hosts table shows) and its ports'
  // bindings (what the cluster picture draws) reach the store separately,
  // milliseconds apart: drawn once more at the next hosts poll, by then
  // with both.
  if (view === 'cluster') state.settle = true;
}

function renderPortRows(show) {
  const tbody = $('ports').tBodies[0];
  const old = {};
  for (const tr of tbody.rows) old[tr.dataset.key] = tr;
  const rows = [];
  for (const b of show.bridges) {
    for (const p of b.ports) {
      const key = b.name + '/' + p.name;
      let tr = old[key];
      if (!tr) {
        tr = el('tr', {'data-key': key, 'data-bridge': b.name, 'data-port': p.name, id: 'port-' + key});
        for (const cls of ['bridge', 'port', 'type', 'vlan', 'state', 'num rx-pps', 'num tx-pps', 'num rx-bps',
                           'num tx-bps', 'num drops-ps', 'num rx-packets', 'num tx-packets', 'num drops'])
          tr.append(el('td', {class: cls}));
        for (const a of ['rx-pps', 'tx-pps', 'rx-bps', 'tx-bps', 'drops-ps']) tr.setAttribute('data-' + a, '0');
        tr.addEventListener('mouseenter', () => highlight([key], 'hover'));
        tr.addEventListener('mouseleave', () => highlight([], 'hover'));
      }
      const c = tr.cells;
      c[0].textContent = b.name;
      c[1].textContent = p.name;
      c[2].textContent = p.type;
      c[3].textContent = vlanText(p);
      c[4].textContent = p.error ? 'down: ' + p.error : 'up';
      c[4].title = p.backend || '';
      tr.classList.toggle('down', !!p.error);
      rows.push(tr);
    }
  }
  replaceRows(tbody, rows);
}

// ------------------------------------------------------------------ rates

async function refreshStats() {
  const r = await api('stats');
  const now = {time: r.time, ports: {}};
  for (const s of r.result) now.ports[s.bridge + '/' + s.port] = s;
  const prev = state.prev;
  const dt = prev ? now.time - prev.time : 0;
  for (const tr of $('ports').tBodies[0].rows) {
    const s = now.ports[tr.dataset.key];
    if (!s) continue;
    const p = prev && prev.ports[tr.dataset.key];
    const rate = (field) => {
      if (!p || dt <= 0 || s[field] < p[field]) return 0;  // no sample before, or the port was re-created
      return (s[field] - p[field]) / dt;
    };
    const v = {
      'rx-pps': rate('rx_packets'), 'tx-pps': rate('tx_packets'),
      'rx-bps': rate('rx_bytes') * 8, 'tx-bps': rate('tx_bytes') * 8,
      'drops-ps': rate('drops_total'),
    };
    const c = tr.cells;
    c[5].textContent = fmtRate(v['rx-pps']);
    c[6].textContent = fmtRate(v['tx-pps']);
    c[7].textContent = fmtRate(v['rx-bps'], 'b');
    c[8].textContent = fmtRate(v['tx-bps'], 'b');
    c[9].textContent = fmtRate(v['drops-ps']);
    c[10].textContent = fmtCount(s.rx_packets);
    c[11].textContent = fmtCount(s.tx_packets);
    c[12].textContent = fmtCount(s.drops_total);
    c[12].title = Object.entries(s.drops || {}).map(([k, n]) => k + ': ' + n).join('\n');
    for (const [k, x] of Object.entries(v)) tr.setAttribute('data-' + k, x.toFixed(1));
    tr.classList.toggle('busy', v['rx-pps'] + v['tx-pps'] > 0);
  }
  state.prev = now;
  state.samples++;
  document.body.dataset.samples = String(state.samples);
}

// ------------------------------------------------------------------ tables

async function refreshFdb() {
  if (!state.show) return;
  const box = $('fdb');
  const parts = [];
  for (const b of state.show.bridges) {
    if (b.type === 'hub') continue;
    const r = await api('fdb-show', {bridge: b.name});
    const rows = r.result.map((e) => el('tr', {'data-mac': e.mac},
      el('td', {text: e.vlan}), el('td', {text: e.mac}), el('td', {text: e.port}),
      el('td', {text: e.static ? 'static' : 'learned'}),
      el('td', {class: 'num', text: e.static ? '' : fmtSeconds(e.age)}),
      el('td', {text: e.remote || ''})));
    const flush = el('button', {type: 'button', class: 'admin', text: 'flush learned'});
    flush.addEventListener('click', () => act('fdb-flush', {bridge: b.name}));
    parts.push(el('div', {class: 'fdb-bridge', id: 'fdb-' + b.name, 'data-bridge': b.name},
      el('h3', {}, b.name + ' ', el('small', {class: 'muted', text: b.type + ', ' + r.result.length + ' entries'}), ' ', flush),
      el('table', {class: 'fdb'},
        el('thead', {}, el('tr', {}, ...['VLAN', 'MAC', 'port', 'kind', 'age', 'remote'].map((h) => el('th', {text: h})))),
        el('tbody', {}, ...rows))));
  }
  box.replaceChildren(...parts);
  applyMode();
}

async function refreshConntrack() {
  const r = await api('conntrack-list');
  const rows = r.result.map((c) => el('tr', {},
    el('td', {text: c.bridge}), el('td', {text: c.port}), el('td', {text: c.zone}), el('td', {text: c.protocol}),
    el('td', {text: c.state}), el('td', {class: 'num', text: c.seconds_left + ' s'}), el('td', {class: 'mono', text: c.line}),
    el('td', {class: 'num', text: c.packets[0] + ' / ' + c.packets[1]})));
  replaceRows($('conntrack').tBodies[0], rows);
  $('conntrack').hidden = rows.length === 0;
  $('conntrack-none').hidden = rows.length !== 0;
}

async function refreshEndpoints() {
  const vms = await api('vm-list');
  const vmRows = vms.result.map((v) => {
    const actions = el('td', {class: 'admin'});
    for (const [cmd, label] of [['vm-start', 'start'], ['vm-stop', 'stop'], ['vm-restart', 'restart']]) {
      const b = el('button', {type: 'button', text: label});
      b.addEventListener('click', () => act(cmd, {name: v.name}));
      actions.append(b);
    }
    return el('tr', {'data-vm': v.name, class: 'state-' + v.state},
      el('td', {text: v.name}), el('td', {class: 'state', text: v.state + (v.ready ? ', ready' : '')}),
      el('td', {text: v.accel}),
      // What QEMU runs with; the definition too while a restart is pending.
      el('td', {text: v.restart_pending ? v.running.vcpus + ' → ' + v.vcpus : (v.running || v).vcpus}),
      el('td', {text: v.restart_pending ? v.running.memory + ' → ' + v.memory + ' (restart pending)' : (v.running || v).memory}),
      el('td', {class: 'num', text: v.state === 'running' ? fmtSeconds(v.uptime_s) : ''}),
      el('td', {text: v.nics.map((n) => n.bridge + '/' + n.port + (n.ip ? ' ' + n.ip : '')).join(', ')}),
      actions);
  });
  replaceRows($('vms').tBodies[0], vmRows.length ? vmRows : [el('tr', {}, el('td', {colSpan: 8, class: 'muted', text: 'no VMs'}))]);
  // ip=dhcp: the lease's address (and router), as `kvnetctl ct list` shows it.
  const ctAddress = (c) => c.ip !== 'dhcp' || !c.dhcp ? c.ip
    : c.dhcp.lease ? 'dhcp ' + c.dhcp.lease.ip : 'dhcp (' + (c.dhcp.client === 'running' ? 'no lease yet' : 'client ' + c.dhcp.client) + ')';
  const cts = await api('ct-list');
  const ctRows = cts.result.map((c) => el('tr', {'data-container': c.name, class: c.netns ? 'state-running' : 'state-missing'},
    el('td', {text: c.name}), el('td', {class: 'state', text: c.netns ? 'running' : 'namespace missing'}),
    el('td', {text: c.bridge}), el('td', {text: c.port}), el('td', {text: ctAddress(c)}),
    el('td', {text: c.dhcp && c.dhcp.lease ? c.dhcp.lease.router : c.gw}),
    el('td', {class: 'mono', text: c.mac})));
  replaceRows($('containers').tBodies[0], ctRows.length ? ctRows : [el('tr', {}, el('td', {colSpan: 7, class: 'muted', text: 'no containers'}))]);
  redrawIfChanged('endpoints', JSON.stringify([vms.result.map((v) => [v.name, v.state]), cts.result.map((c) => [c.name, c.netns])]));
  applyMode();
}

// ------------------------------------------------------------------ picture

async function refreshPicture() {
  const box = $('picture');
  if (!state.drawAvailable) return;
  const params = {format: 'svg'};
  const view = state.view;
  if (view === 'cluster') {
    params.cluster = 'true';  // a flag of draw's: the dashboard makes it a boolean
  } else if (state.trace) {
    params['trace.bridge'] = state.trace.bridge;
    params['trace.in_port'] = state.trace.in_port;
    params['trace.flow'] = state.trace.flow;
  }
  const seq = ++state.pictureSeq;  // only the latest request's picture is shown
  try {
    const r = await api('draw', params);
    if (seq !== state.pictureSeq) return;
    const doc = new DOMParser().parseFromString(r.result.data, 'image/svg+xml');
    const svg = doc.documentElement;
    if (svg.nodeName !== 'svg') throw new Error('the picture is not SVG');
    for (const s of svg.querySelectorAll('script, foreignObject')) s.remove();
    for (const e of svg.querySelectorAll('*'))
      for (const a of [...e.attributes]) if (a.name.startsWith('on')) e.removeAttribute(a.name);
    svg.removeAttribute('width');  // scale to the page; the viewBox keeps the proportions
    svg.removeAttribute('height');
    box.replaceChildren(document.importNode(svg, true));
    document.body.dataset.picture = 'loaded';
    document.body.dataset.pictureView = view;
    markTrace();
  } catch (e) {
    if (seq !== state.pictureSeq) return;
    if (/no such endpoint|unknown command/.test(e.message)) {
      state.drawAvailable = false;
      box.replaceChildren(el('p', {class: 'muted', text: 'this kvnetd draws no pictures'}));
      document.body.dataset.picture = 'none';
    } else {
      box.replaceChildren(el('p', {class: 'error', text: 'picture: ' + e.message}));
      document.body.dataset.picture = 'error';
    }
  }
}

// Marks picture elements by id (BR/PORT, bridge:BR, ...: src/ctl/draw.h).
function highlight(ids, cls) {
  const box = $('picture');
  for (const e of box.querySelectorAll('.' + cls)) e.classList.remove(cls);
  for (const id of ids) {
    const e = box.querySelector('[id="' + CSS.escape(id) + '"]');
    if (e) e.classList.add(cls);
  }
}

// The trace's path in the port table, and on the picture if the picture
// does not show it already (drawn before the trace, or by a kvnetd whose
// draw does not mark traces).
function markTrace() {
  const t = state.traceResult;
  const ids = [];
  if (t) {
    for (const s of t.steps) {
      if (s.port) ids.push(s.bridge + '/' + s.port);
      if (s.bridge) ids.push('bridge:' + s.bridge);
    }
    for (const o of t.outputs) ids.push(o.bridge + '/' + o.port);
  }
  // A picture drawn with the trace marks the path itself, in its own colours.
  highlight($('picture').querySelector('.trace') ? [] : ids, 'hl');
  for (const tr of $('ports').tBodies[0].rows) tr.classList.toggle('hl', ids.includes(tr.dataset.key));
}

// ------------------------------------------------------------------ trace

function renderTraceChoices(show) {
  const bs = $('trace-bridge'), ps = $('trace-in-port');
  const want = bs.value || bs.dataset.want;
  const names = show.bridges.map((b) => b.name);
  if (JSON.stringify([...bs.options].map((o) => o.value)) !== JSON.stringify(names))
    bs.replaceChildren(...names.map((n) => el('option', {value: n, text: n})));
  if (want && names.includes(want)) bs.value = want;
  const b = show.bridges.find((x) => x.name === bs.value);
  const ports = b ? b.ports.filter((p) => p.type !== 'patch').map((p) => p.name) : [];
  const wantPort = ps.value || ps.dataset.want;
  if (JSON.stringify([...ps.options].map((o) => o.value)) !== JSON.stringify(ports))
    ps.replaceChildren(...ports.map((n) => el('option', {value: n, text: n})));
  if (wantPort && ports.includes(wantPort)) ps.value = wantPort;
}

async function runTrace(ev) {
  if (ev) ev.preventDefault();
  const req = {bridge: $('trace-bridge').value, in_port: $('trace-in-port').value, flow: $('trace-flow').value.trim()};
  $('trace-error').hidden = true;
  try {
    const r = await api('trace', req);
    state.trace = req;
    state.traceResult = r.result;
    renderTrace(r.result);
    document.body.dataset.trace = 'done';
    setView('host');  // the path is drawn on this host's picture
    await refreshPicture();
    markTrace();
  } catch (e) {
    $('trace-error').textContent = 'trace: ' + e.message;
    $('trace-error').hidden = false;
    document.body.dataset.trace = 'error';
  }
}

function renderTrace(t) {
  $('trace-summary').textContent = t.flow + ' in ' + t.in_port + ': ' +
    (t.outputs.length ? 'leaves through ' + t.outputs.length + ' port(s)' : 'goes nowhere');
  $('trace-steps').replaceChildren(...t.steps.map((s, i) => {
    const key = s.port ? s.bridge + '/' + s.port : 'bridge:' + s.bridge;
    const li = el('li', {class: 'step depth-' + s.depth + (/drop/i.test(s.stage + ' ' + s.detail) ? ' drop' : ''),
                         'data-step': i + 1, 'data-bridge': s.bridge, 'data-port': s.port || ''},
      el('span', {class: 'where', text: s.bridge + (s.port ? '/' + s.port : '')}), ' ',
      el('span', {class: 'stage', text: s.stage}), ' ', el('span', {class: 'detail', text: s.detail}));
    li.style.marginLeft = (s.depth * 1.5) + 'em';
    li.addEventListener('mouseenter', () => highlight([key], 'hover'));
    li.addEventListener('mouseleave', () => highlight([], 'hover'));
    return li;
  }));
  $('trace-outputs').replaceChildren(...(t.outputs.length ? t.outputs.map((o) =>
    el('li', {'data-bridge': o.bridge, 'data-port': o.port}, o.bridge + '/' + o.port + ': ' + o.flow + ' (' + o.len + ' bytes)'))
    : [el('li', {class: 'muted', text: 'none'})]));
  $('trace-result').hidden = false;
}

function clearTrace() {
  state.trace = null;
  state.traceResult = null;
  $('trace-result').hidden = true;
  delete document.body.dataset.trace;
  markTrace();
  if (state.view === 'host') refreshPicture();
}

// Fills the form from ?bridge=..&in_port=..&flow=.. (or after '#'); true if it did.
function prefillTrace() {
  const src = location.search.length > 1 ? location.search.slice(1) : location.hash.slice(1);
  const q = new URLSearchParams(src);
  if (!q.get('bridge') || !q.get('in_port')) return false;
  $('trace-bridge').dataset.want = q.get('bridge');
  $('trace-in-port').dataset.want = q.get('in_port');
  $('trace-flow').value = q.get('flow') || '';
  return true;
}

// ------------------------------------------------------------------ cluster

// The picture's view, as the radio buttons show it; true if it changed.
function setView(view) {
  if (state.view === view) return false;
  state.view = view;
  $('view-' + view).checked = true;
  return true;
}

function setClusterMode(on) {
  state.cluster = on;
  document.body.dataset.cluster = on ? 'cluster' : 'standalone';
  $('cluster-section').hidden = !on;
  $('picture-view').hidden = !on;
  if (!on && setView('host')) refreshPicture();  // kvnetd restarted without --cluster
}

function names(list) { return list && list.length ? list.join(', ') : '–'; }

function storeField(field, text, bad) {
  const td = $('cluster-store').querySelector('tr[data-field="' + field + '"] td');
  td.textContent = text;
  td.classList.toggle('bad', !!bad);
}

// `cluster-status` (the same as `kvnetctl cluster status`): the store, the
// member that answered, this host's lease. Then the networks, from the store
// only while it answers (asking an unreachable one would hold kvnetd's
// control loop for its timeouts at every poll): otherwise the last ones
// stay, marked as such.
async function refreshCluster() {
  const r = await api('cluster-status');
  const s = r.result;
  setClusterMode(s.mode === 'cluster');
  if (!state.cluster) return;
  storeField('endpoints', 'etcd at ' + (s.endpoints || []).join(', ') + ' (prefix ' + s.prefix + ')');
  const m = s.member || {};
  if (s.reachable) {
    storeField('reachable', 'yes');
    storeField('member', m.endpoint + ' (id ' + m.id + ', etcd ' + m.version + ', leader ' + m.leader +
      (m.leader === m.id ? ', itself' : '') + ')');
    storeField('revision', s.revision + ' (applied here: ' + s.applied_revision + ')');
  } else {
    storeField('reachable', 'no: ' + (s.error || 'no member answers'), true);
    storeField('member', 'none answering');
    storeField('revision', 'applied here: ' + s.applied_revision + ' (forwarding goes on with this state)');
  }
  const h = s.host || {};
  storeField('host', h.name + ', underlay ' + h.underlay_ip + (h.joined
    ? ', lease ' + h.lease + ' (TTL ' + h.ttl + ' s, ' + h.ttl_left + ' s left)'
    : ': not joined' + (h.error ? ' (' + h.error + ')' : '')), !h.joined);
  $('cluster-store').dataset.reachable = s.reachable ? 'yes' : 'no';
  let note = '';
  if (s.reachable || state.networks === null) {
    const n = await api('network-list');
    state.networks = n.result;
    if (n.warnings && n.warnings.length) note = n.warnings.join('; ');
  } else {
    note = 'the store is unreachable: as this page last saw them';
  }
  $('cluster-networks-note').textContent = note;
  renderNetworks(state.networks);
}

function renderNetworks(nets) {
  const rows = nets.map((n) => el('tr', {'data-network': n.name},
    el('td', {text: n.name}), el('td', {class: 'num', text: n.vni}), el('td', {class: 'mono', text: n.subnet || '–'}),
    el('td', {class: 'num', text: n.mtu})));
  replaceRows($('cluster-networks').tBodies[0],
    rows.length ? rows : [el('tr', {}, el('td', {colSpan: 4, class: 'muted', text: 'no networks'}))]);
  redrawIfChanged('networks', JSON.stringify(nets.map((n) => [n.name, n.vni, n.subnet, n.mtu])), 'cluster');
  summarize();
}

// `cluster-hosts`: every host this one knows, up or down, with what runs
// there (from this host's state: no store round trip).
async function refreshClusterHosts() {
  if (!state.cluster) return;
  const r = await api('cluster-hosts');
  const seen = (h) => h.state === 'up' ? 'now'
    : h.last_seen_ago_s < 0 ? 'never (down since before this host watched)' : fmtSeconds(h.last_seen_ago_s) + ' ago';
  const rows = r.result.map((h) => el('tr', {'data-host': h.name, 'data-state': h.state,
                                             class: 'state-' + h.state + (h.this_host ? ' this-host' : '')},
    el('td', {}, h.name, h.this_host ? el('small', {class: 'muted', text: ' (this host)'}) : null),
    el('td', {class: 'state', text: h.state}),
    el('td', {class: 'mono', text: h.underlay_ip}),
    el('td', {class: 'num', text: h.ports}),
    el('td', {text: names(h.vms)}),
    el('td', {text: names(h.containers)}),
    el('td', {class: 'seen', text: seen(h), title: h.last_seen > 0 ? new Date(h.last_seen * 1000).toLocaleString() : ''})));
  replaceRows($('cluster-hosts').tBodies[0],
    rows.length ? rows : [el('tr', {}, el('td', {colSpan: 7, class: 'muted', text: 'no hosts'}))]);
  state.hosts = r.result;
  const again = state.settle;
  state.settle = false;
  redrawIfChanged('hosts', JSON.stringify(r.result.map((h) =>
    [h.name, h.state, h.underlay_ip, h.ports, h.vms, h.containers])), 'cluster');
  if (again && !state.settle && state.view === 'cluster') refreshPicture();
  summarize();
}

function summarize() {
  const hosts = state.hosts || [];
  const up = hosts.filter((h) => h.state === 'up').length;
  $('cluster-summary').textContent = up + ' host(s) up, ' + (hosts.length - up) + ' down; ' +
    (state.networks || []).length + ' network(s)';
}

// ------------------------------------------------------------------ changes (with the token)

async function act(cmd, args) {
  const out = $('action-result');
  try {
    const r = await post(cmd, args);
    out.textContent = cmd + ': ' + (r && r.flushed !== undefined ? r.flushed + ' flushed' : 'done');
    out.className = 'action-result ok';
    refreshTables();
  } catch (e) {
    out.textContent = cmd + ': ' + e.message;
    out.className = 'action-result bad';
  }
}

function applyMode() {
  const ro = !state.info || state.info.read_only;
  document.body.classList.toggle('read-only', ro);
}

// ------------------------------------------------------------------ main

function every(ms, fn) {
  const tick = async () => {
    try {
      await fn();
      setStatus(true, 'live');
    } catch (e) {
      setStatus(false, e.message);
    }
    setTimeout(tick, ms);
  };
  tick();
}

async function refreshTables() {
  await Promise.all([refreshFdb(), refreshConntrack(), refreshEndpoints()]);
}

async function main() {
  $('trace-form').addEventListener('submit', runTrace);
  $('trace-clear').addEventListener('click', clearTrace);
  $('trace-bridge').addEventListener('change', () => state.show && renderTraceChoices(state.show));
  $('conntrack-flush').addEventListener('click', () => act('conntrack-flush', {}));
  for (const r of document.querySelectorAll('input[name="picture-view"]'))
    r.addEventListener('change', () => { if (r.checked && setView(r.value)) refreshPicture(); });
  const tok = $('token');
  tok.value = sessionStorage.getItem('kvnet-token') || '';
  tok.addEventListener('change', () => sessionStorage.setItem('kvnet-token', tok.value));
  const autoTrace = prefillTrace();
  try {
    state.info = (await api('info')).result;
    $('version').textContent = state.info.version;
    $('mode').textContent = state.info.read_only ? 'read-only' : 'changes need the token';
    $('token-box').hidden = state.info.read_only;
    $('conntrack-actions').hidden = state.info.read_only;
    applyMode();
    await refreshShow();
    await refreshCluster();
  } catch (e) {
    setStatus(false, e.message);
  }
  every(STATS_MS, refreshStats);
  setTimeout(() => every(SHOW_MS, refreshShow), SHOW_MS);
  every(TABLES_MS, refreshTables);
  setTimeout(() => every(SHOW_MS, refreshCluster), SHOW_MS);
  every(TABLES_MS, refreshClusterHosts);
  if (autoTrace) $('trace-form').requestSubmit();  // as a click on 'trace' would
}

main();
