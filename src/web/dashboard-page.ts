/**
 * The built-in live dashboard (`GET /`): one page, its script and its style, no build step. It
 * logs in, lists the events, subscribes to them with `since` (so a reconnect misses nothing) and
 * draws each event's latest value and last minute. It speaks PROTOCOL.md directly over the socket.
 * The script and style are files of their own so that the page runs under a strict
 * Content-Security-Policy (no inline script or style).
 */

/** The page; with SSO on (PROTOCOL.md §17), a "Sign in with …" link to `/api/auth/sso/login`. */
export function dashboardHtml(sso?: { providerName: string }): string {
  const button = sso === undefined ? '' : `\n  <p id="sso"><a class="sso" href="/api/auth/sso/login">Sign in with ${escapeHtml(sso.providerName)}</a></p>`;
  return DASHBOARD_HTML.replace('\n  <p id="message"></p>', `${button}\n  <p id="message"></p>`);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Telemetry hub</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header><h1>Telemetry hub</h1><span id="status">not connected</span></header>
<main>
  <form id="login">
    <input name="username" placeholder="username" autocomplete="username" required>
    <input name="password" type="password" placeholder="password" autocomplete="current-password" required>
    <button>Log in</button>
  </form>
  <p id="message"></p>
  <div id="grid"></div>
</main>
<script src="/app.js" defer></script>
</body>
</html>
`;

export const DASHBOARD_CSS = `  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #0f1419; color: #e6e6e6; }
  header { padding: 12px 20px; background: #1a2129; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 16px; margin: 0; flex: 1; }
  #status { font-size: 12px; color: #9aa5b1; }
  main { padding: 20px; }
  form { display: flex; gap: 8px; max-width: 420px; }
  form[hidden] { display: none; }
  input, button { font: inherit; padding: 6px 10px; border-radius: 4px; border: 1px solid #334; background: #111820; color: inherit; }
  button { background: #2d6cdf; border-color: #2d6cdf; cursor: pointer; }
  a.sso { display: inline-block; padding: 6px 10px; border-radius: 4px; background: #1a2129; border: 1px solid #334; color: inherit; text-decoration: none; }
  #sso[hidden] { display: none; }
  #grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 12px; }
  .card { background: #1a2129; border-radius: 6px; padding: 12px; }
  .card h2 { font-size: 13px; margin: 0 0 4px; color: #9aa5b1; font-weight: 500; }
  .value { font-size: 24px; font-variant-numeric: tabular-nums; }
  canvas { width: 100%; height: 48px; display: block; margin-top: 6px; }
  .error { color: #ff7b72; }
`;

export const DASHBOARD_JS = String.raw`"use strict";
const WINDOW_MS = 60000;
const state = { token: sessionStorage.getItem('hub-token'), events: new Map(), lastTs: 0, socket: null, nextId: 1, pending: new Map() };
const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };

// Back from single sign-on (PROTOCOL.md §17): a one-time code in the fragment, never sent to a
// server by the browser; it is taken off the address bar, then exchanged for the token.
async function ssoExchange() {
  const match = /^#sso_code=([^&]+)$/.exec(location.hash);
  if (!match) return false;
  history.replaceState(null, '', location.pathname + location.search);
  const res = await fetch('/api/auth/sso/exchange', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: decodeURIComponent(match[1]) }) });
  const body = await res.json();
  if (!res.ok) { $('message').textContent = body.error.message; $('message').className = 'error'; return false; }
  state.token = body.access_token;
  sessionStorage.setItem('hub-token', state.token);
  return true;
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const res = await fetch('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: form.get('username'), password: form.get('password') }) });
  const body = await res.json();
  if (!res.ok) { $('message').textContent = body.error.message; $('message').className = 'error'; return; }
  state.token = body.access_token;
  sessionStorage.setItem('hub-token', state.token);
  start();
});

function request(op, data) {
  const id = state.nextId++;
  return new Promise((resolve, reject) => {
    state.pending.set(id, { resolve, reject });
    state.socket.send(JSON.stringify({ id, op, data }));
  });
}

function card(event) {
  const el = document.createElement('div');
  el.className = 'card';
  el.innerHTML = '<h2></h2><div class="value">–</div><canvas width="240" height="48"></canvas>';
  el.querySelector('h2').textContent = event.name + (event.unit ? ' (' + event.unit + ')' : '');
  $('grid').appendChild(el);
  return { el, points: [], value: el.querySelector('.value'), canvas: el.querySelector('canvas') };
}

function draw(entry) {
  const now = Date.now();
  entry.points = entry.points.filter(([ts]) => ts > now - WINDOW_MS);
  const ctx = entry.canvas.getContext('2d');
  const { width, height } = entry.canvas;
  ctx.clearRect(0, 0, width, height);
  if (entry.points.length < 2) return;
  const values = entry.points.map(([, v]) => v);
  const min = Math.min(...values), max = Math.max(...values), span = max - min || 1;
  ctx.strokeStyle = '#58a6ff';
  ctx.beginPath();
  entry.points.forEach(([ts, v], i) => {
    const x = ((ts - (now - WINDOW_MS)) / WINDOW_MS) * width;
    const y = height - 2 - ((v - min) / span) * (height - 4);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function onReadings({ event, points, conflated }) {
  const entry = state.events.get(event);
  if (!entry || points.length === 0) return;
  for (const p of points) entry.points.push(p);
  const [ts, value] = points[points.length - 1];
  state.lastTs = Math.max(state.lastTs, ts);
  entry.value.textContent = Number(value.toFixed(3)) + (conflated ? ' ≈' : '');
}

function start() {
  $('login').hidden = true;
  if ($('sso')) $('sso').hidden = true;
  status('connecting…');
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws?token=' + encodeURIComponent(state.token);
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onmessage = (msg) => {
    const m = JSON.parse(msg.data);
    if (m.op === 'readings') return onReadings(m.data);
    const p = state.pending.get(m.id);
    if (!p) return;
    state.pending.delete(m.id);
    m.ok ? p.resolve(m.data) : p.reject(m.error);
  };
  socket.onopen = async () => {
    status('connected');
    const list = await request('events.list', { page_size: 500 });
    for (const event of list.items) if (!state.events.has(event.public_id)) state.events.set(event.public_id, card(event));
    if (list.items.length === 0) { $('message').textContent = 'No events yet.'; return; }
    // Resume from the last point seen (or the last minute): the hub fills the gap.
    const since = state.lastTs || Date.now() - WINDOW_MS;
    await request('subscribe', { events: list.items.map((e) => e.public_id), since });
  };
  socket.onclose = (e) => {
    status('disconnected (' + e.code + ')');
    if (e.code === 1008 || e.code === 4401) {
      sessionStorage.removeItem('hub-token'); $('login').hidden = false; if ($('sso')) $('sso').hidden = false; return;
    }
    setTimeout(start, 1000);
  };
}

setInterval(() => { for (const entry of state.events.values()) draw(entry); }, 500);
ssoExchange().then((exchanged) => { if (exchanged || state.token) start(); });
`;
