/**
 * The live cluster page served at `/`: it reads this node's `/status` for the members'
 * HTTP addresses, then polls every member's `/status` (CORS allows it) twice a second and
 * shows each node's role, term, leader, commit and apply index. No framework, no build step.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kontiki cluster</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d2430; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
  p.sub { margin: 0 0 1.2rem; color: #5b6472; }
  table { border-collapse: collapse; background: #fff; box-shadow: 0 1px 3px #0002; }
  th, td { padding: .45rem .9rem; text-align: right; border-bottom: 1px solid #e4e7ec; }
  th:first-child, td:first-child, td.role, th.role { text-align: left; }
  th { background: #eef1f5; font-weight: 600; }
  td.role span { padding: .1rem .5rem; border-radius: .7rem; font-size: .85rem; }
  .leader { background: #d3f4dc; color: #12602c; }
  .follower { background: #e3eaf7; color: #27467a; }
  .candidate, .transferring { background: #fbefc8; color: #7a5a06; }
  .down, .error, .shutdown { background: #f8d7d7; color: #8a1f1f; }
  tr.self td:first-child { font-weight: 700; }
  #updated { color: #5b6472; font-size: .85rem; margin-top: .8rem; }
</style>
</head>
<body>
<h1>Kontiki cluster</h1>
<p class="sub">Raft group <b id="group">?</b> &middot; transport <b id="transport">?</b> &middot; storage <b id="storage">?</b></p>
<table>
  <thead><tr><th>node</th><th class="role">role</th><th>term</th><th>leader</th><th>commit</th><th>applied</th><th>last log</th><th>keys</th><th>http</th></tr></thead>
  <tbody id="nodes"></tbody>
</table>
<div id="updated"></div>
<script>
'use strict';
const columns = ['id', 'role', 'term', 'leaderId', 'commitIndex', 'appliedIndex', 'lastLogIndex', 'keys', 'http'];
let members = [];
let selfId = '';

function cell(row, text, cls) {
  const td = document.createElement('td');
  if (cls === 'role') {
    td.className = 'role';
    const span = document.createElement('span');
    span.className = text;
    span.textContent = text;
    td.appendChild(span);
  } else {
    td.textContent = text;
  }
  row.appendChild(td);
}

async function fetchStatus(http) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 1000);
  try {
    const res = await fetch('http://' + http + '/status', { signal: controller.signal });
    return await res.json();
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

async function refresh() {
  if (members.length === 0) {
    const own = await fetch('/status').then((r) => r.json()).catch(() => undefined);
    if (!own) return;
    selfId = own.id;
    members = own.peers;
    document.getElementById('group').textContent = own.groupId;
    document.getElementById('transport').textContent = own.transport;
    document.getElementById('storage').textContent = own.storage;
  }
  const statuses = await Promise.all(members.map((m) => (m.http ? fetchStatus(m.http) : undefined)));
  const body = document.getElementById('nodes');
  body.replaceChildren();
  members.forEach((m, i) => {
    const s = statuses[i];
    const row = document.createElement('tr');
    if (m.id === selfId) row.className = 'self';
    for (const c of columns) {
      if (c === 'id') cell(row, m.id);
      else if (c === 'http') cell(row, m.http || '?');
      else if (c === 'role') cell(row, s ? s.role : 'down', 'role');
      else cell(row, s && s[c] !== undefined && s[c] !== null ? String(s[c]) : '-');
    }
    body.appendChild(row);
  });
  document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
}

async function poll() {
  await refresh();
  setTimeout(poll, 500);
}
poll();
</script>
</body>
</html>
`;
