/**
 * The live cluster page served at `/`: twice a second it reads this node's `/cluster` (every
 * member's status, fetched by this node: the page talks to its own origin only, so no
 * member needs CORS headers) and shows each node's membership, role, term, leader, commit
 * and apply index, snapshot index and first log index; the configuration is the leader's
 * when one answers. With several groups (`--groups`), the table is the first group's and a
 * second one summarises every node's groups (counts, leaders per node, laggards): never a
 * row per group. No framework, no build step.
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
  #conf { margin: 0 0 1rem; }
  .joint { color: #7a5a06; font-weight: 600; }
</style>
</head>
<body>
<h1>Kontiki cluster</h1>
<p class="sub">Raft group <b id="group">?</b> &middot; transport <b id="transport">?</b> &middot; storage <b id="storage">?</b></p>
<p id="conf">configuration: ?</p>
<table>
  <thead><tr><th>node</th><th class="role">member</th><th class="role">role</th><th>term</th><th>leader</th><th>commit</th><th>applied</th><th>last log</th><th>snapshot</th><th>first log</th><th>keys</th><th>http</th></tr></thead>
  <tbody id="nodes"></tbody>
</table>
<div id="sharded" hidden>
<h2 style="font-size:1.1rem;margin:1.4rem 0 .4rem">All <span id="groupCount">?</span> groups</h2>
<p class="sub" id="leaders"></p>
<table>
  <thead><tr><th>node</th><th>groups</th><th>led here</th><th>with leader</th><th>starting</th><th>lagging</th><th>keys</th></tr></thead>
  <tbody id="groups"></tbody>
</table>
<p class="sub" id="laggards"></p>
</div>
<div id="updated"></div>
<script>
'use strict';
const columns = ['id', 'member', 'role', 'term', 'leaderId', 'commitIndex', 'appliedIndex', 'lastLogIndex', 'snapshotIndex', 'firstLogIndex', 'keys', 'http'];

function cell(row, text, cls) {
  const td = document.createElement('td');
  if (cls === 'member') {
    td.className = 'role';
    td.textContent = text;
  } else if (cls === 'role') {
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

function membership(conf, id) {
  const voter = conf.voters.includes(id);
  const old = (conf.oldVoters || []).includes(id);
  if (voter && (!conf.oldVoters || old)) return 'voter';
  if (voter) return 'voter (joining)';
  if (old) return 'voter (leaving)';
  if ((conf.learners || []).includes(id)) return 'learner';
  return 'not a member';
}

function describeConf(conf) {
  let text = 'voters ' + (conf.voters.join(', ') || '-');
  if (conf.learners && conf.learners.length) text += ' \u00b7 learners ' + conf.learners.join(', ');
  return text;
}

// Many groups, summarised per node (each node's own view): counts, never a row per group.
function showGroups(own, ids, statuses) {
  const box = document.getElementById('sharded');
  box.hidden = !own.groups;
  if (!own.groups) return;
  document.getElementById('groupCount').textContent = String(own.groups.count);
  const per = Object.entries(own.groups.leadersPerNode).map(([id, n]) => id + ' ' + n).join(', ');
  document.getElementById('leaders').textContent = 'leaders per node, as ' + own.id + ' sees them: ' + (per || 'none yet');
  const body = document.getElementById('groups');
  body.replaceChildren();
  const worst = [];
  ids.forEach((id, i) => {
    const g = statuses[i] && statuses[i].groups;
    const row = document.createElement('tr');
    if (id === own.id) row.className = 'self';
    cell(row, id);
    for (const v of g ? [g.count, g.ledHere, g.withLeader, g.starting, g.laggards.count, g.keys] : ['-', '-', '-', '-', '-', '-']) cell(row, String(v));
    body.appendChild(row);
    if (g) for (const w of g.laggards.worst) worst.push(id + ' ' + w.group + ' (applied ' + w.appliedIndex + ' of ' + w.commitIndex + ')');
  });
  document.getElementById('laggards').textContent = worst.length ? 'most behind: ' + worst.slice(0, 5).join('; ') : 'no group lags behind its commit index';
}

async function refresh() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 3000);
  const cluster = await fetch('/cluster', { signal: controller.signal, headers: { accept: 'application/json' } })
    .then((r) => r.json())
    .catch(() => undefined)
    .finally(() => clearTimeout(timer));
  if (!cluster) return;
  const own = cluster.self;
  document.getElementById('group').textContent = own.groups ? own.groupId + ' (first of ' + own.groups.count + ')' : own.groupId;
  document.getElementById('transport').textContent = own.transport;
  document.getElementById('storage').textContent = own.storage;
  const http = new Map(cluster.members.map((m) => [m.id, m.http]));
  const ids = cluster.members.map((m) => m.id);
  const statuses = cluster.members.map((m) => m.status || undefined);
  // The leader's configuration is the newest one; this node's may lag behind.
  const leader = statuses.find((s) => s && s.role === 'leader');
  const conf = leader ? leader.configuration : own.configuration;
  const confEl = document.getElementById('conf');
  confEl.replaceChildren();
  confEl.append('configuration' + (leader ? ' (leader ' + leader.id + ')' : '') + ': ' + describeConf(conf));
  if (conf.oldVoters) {
    const joint = document.createElement('span');
    joint.className = 'joint';
    joint.textContent = ' \u00b7 joint with old voters ' + conf.oldVoters.join(', ');
    confEl.append(joint);
  }
  const body = document.getElementById('nodes');
  body.replaceChildren();
  ids.forEach((id, i) => {
    const s = statuses[i];
    const row = document.createElement('tr');
    if (id === own.id) row.className = 'self';
    for (const c of columns) {
      if (c === 'id') cell(row, id);
      else if (c === 'http') cell(row, http.get(id) || '?');
      else if (c === 'member') cell(row, membership(conf, id), 'member');
      else if (c === 'role') cell(row, s ? s.role : 'down', 'role');
      else cell(row, s && s[c] !== undefined && s[c] !== null ? String(s[c]) : '-');
    }
    body.appendChild(row);
  });
  showGroups(own, ids, statuses);
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
