// The sysarena playground: the page around the real core (sysarena-wasm).
// Every number shown comes from the core through pg_state; this file only
// draws and routes commands. No network, no dependencies.
'use strict';

const pageErrors = [];
window.addEventListener('error', (e) => { pageErrors.push(String(e.message || e)); showPageErrors(); });
window.addEventListener('unhandledrejection', (e) => { pageErrors.push('unhandled: ' + String(e.reason)); showPageErrors(); });
function showPageErrors() {
  const p = document.getElementById('page-errors');
  p.hidden = false;
  p.textContent = 'page errors: ' + pageErrors.join(' | ');
}

const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
const dec = new TextDecoder();
let X = null; // the wasm exports

// ---- the core ---------------------------------------------------------------

function put(data) {
  const bytes = typeof data === 'string' ? enc.encode(data) : data;
  const p = X.pg_input(bytes.length);
  new Uint8Array(X.memory.buffer, p, bytes.length).set(bytes);
}
function answer(n) {
  return JSON.parse(dec.decode(new Uint8Array(X.memory.buffer, X.pg_output(), n)));
}
const core = {
  exec(id, text) { put(text); return answer(X.pg_exec(id)); },
  configure(id, text) { put(text); return answer(X.pg_configure(id)); },
  state(id) { return answer(X.pg_state(id, MAX_ARENAS, BUCKETS)); },
  script(id) { return answer(X.pg_script(id)); },
  adopt(dst, src) { return answer(X.pg_adopt(dst, src)); },
  loadTrace(id, name, bytes, max) {
    const head = enc.encode(name.replace(/\n/g, ' ') + '\n');
    const all = new Uint8Array(head.length + bytes.length);
    all.set(head); all.set(bytes, head.length);
    put(all);
    return answer(X.pg_load_trace(id, max));
  },
};
const MAX_ARENAS = 1500; // above this the heap map is drawn in buckets
const BUCKETS = 600;

// ---- state ------------------------------------------------------------------

const panels = []; // {id, policy, coalescing, pinned, el, view, note}
let settings = { capacity: '1024', descriptors: '16', policy: 'first-fit', coalescing: 'deferred', handles: false };
const recall = [];
let recallAt = 0;
const quiz = { queue: [], pending: null, right: 0, asked: 0 };
let traceLoaded = false;

// ---- drawing ----------------------------------------------------------------

const PALETTE = ['#4e79a7', '#e15759', '#59a14f', '#b07aa1', '#9c755f', '#f28e2b', '#76b7b2', '#7f7f7f'];
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
function bytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, i = 0;
  while (v >= 1024 && i + 1 < u.length) { v /= 1024; i++; }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${u[i]}`;
}
// A cached arena (row[6] = 1): free, waiting whole in a quick list (the
// fast model). Drawn solid grey-blue, as `sysarena viz` draws it.
const CACHED = '#9fa8bd';
const isFast = (v) => v.policy === 'segregated-fit' && v.coalescing === 'immediate';
function ownerName(row) {
  if (row[4] === 0) return row[6] ? 'cached' : 'free';
  if (row[4] === 2) return `id ${row[5]}`;
  return row[5] >= 2 ** 53 ? 'in use' : `#${row[5]}`;
}
function letter(row) { return row[4] === 0 ? (row[6] ? '○' : '·') : String.fromCharCode(65 + (row[5] % 26)); }

// The heap map as an SVG string: every arena a rectangle (or, for large
// heaps, buckets drawn as a skyline of in-use bytes). Patterns, not only
// colours: free arenas are hatched, slack is striped, the largest free arena
// is outlined and labelled, cached arenas are solid grey-blue; every
// rectangle has a <title>. Buckets count cached bytes as free.
// `W` is the drawing's width in CSS pixels, so labels keep their size on a
// phone as on a desktop.
function heapSvg(v, k, W = 640) {
  const H = 70, cap = Math.max(1, v.capacity);
  const x = (o) => (o / cap) * W;
  const out = [];
  const free = `f${k}`, slack = `s${k}`;
  const live = v.stats.used_arenas, fa = v.stats.free_arenas;
  const cached = v.stats.cached_arenas ? ` of which ${v.stats.cached_arenas} cached (${bytes(v.stats.cached_bytes)})` : '';
  const label = `Heap map of ${bytes(v.capacity)}: ${live} in-use arenas (${bytes(v.stats.in_use_bytes)}), ${fa} free arenas (${bytes(v.stats.free_bytes)})${cached}, largest free ${bytes(v.stats.largest_free)}`;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="heapmap" viewBox="0 0 ${W} ${H + 20}" role="img" aria-label="${esc(label)}">`);
  out.push(`<title>${esc(label)}</title>`);
  out.push(`<defs><pattern id="${free}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><rect width="2" height="6" fill="#8a96a3"/></pattern>`);
  out.push(`<pattern id="${slack}" width="5" height="5" patternUnits="userSpaceOnUse"><rect width="5" height="5" fill="#c6d4e4"/><rect width="2" height="5" fill="#4e79a7"/></pattern></defs>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="url(#${free})"/>`);
  if (v.arenas) {
    for (const a of v.arenas) {
      const [off, size, used] = a;
      const x0 = x(off), w = Math.max(x(size), 0.6);
      const name = ownerName(a);
      const tip = `${name}: offset ${off}, ${bytes(size)}${a[4] ? `, ${bytes(used)} requested` : ''}, slot ${a[3]}`;
      if (a[4] === 0 && a[6]) {
        out.push(`<rect x="${x0}" y="0" width="${w}" height="${H}" fill="${CACHED}" stroke="#57606a" stroke-width="0.5" data-kind="cached"><title>${esc(`cached (waiting whole in a quick list for a request of ${bytes(size)}): offset ${off}, slot ${a[3]}`)}</title></rect>`);
        if (w > 64) out.push(`<text x="${x0 + w / 2}" y="${H / 2 + 5}" text-anchor="middle" font-size="14" fill="#1b1f24" font-family="sans-serif">cached ${esc(bytes(size))}</text>`);
      } else if (a[4] === 0) {
        out.push(`<rect x="${x0}" y="0" width="${w}" height="${H}" fill="url(#${free})" stroke="#57606a" stroke-width="0.5" data-kind="free"><title>${esc(tip)}</title></rect>`);
        if (w > 64) out.push(`<text x="${x0 + w / 2}" y="${H / 2 + 5}" text-anchor="middle" font-size="14" fill="#1b1f24" font-family="sans-serif">free ${esc(bytes(size))}</text>`);
      } else {
        const colour = PALETTE[(a[5] % PALETTE.length) || 0];
        const wu = size > 0 ? (used / size) * w : w;
        out.push(`<rect x="${x0}" y="0" width="${w}" height="${H}" fill="url(#${slack})" stroke="#fff" stroke-width="0.7" data-kind="used"><title>${esc(tip)}</title></rect>`);
        out.push(`<rect x="${x0}" y="0" width="${wu}" height="${H}" fill="${colour}" pointer-events="none"/>`);
        if (w > 22) out.push(`<text x="${x0 + Math.min(wu, w) / 2}" y="${H / 2 + 6}" text-anchor="middle" font-size="${w > 44 ? 17 : 12}" fill="#fff" font-family="sans-serif" pointer-events="none">${esc(name)}</text>`);
      }
    }
  } else if (v.buckets) {
    const n = v.buckets.length, per = cap / n, bw = W / n;
    for (let i = 0; i < n; i++) {
      const [inUse, req, starts] = v.buckets[i];
      const hu = Math.min(1, inUse / per) * H, hr = Math.min(1, req / per) * H;
      if (hu > 0) {
        out.push(`<rect x="${i * bw}" y="${H - hu}" width="${bw + 0.05}" height="${hu}" fill="url(#${slack})"><title>${esc(`${bytes(Math.floor(i * per))}–${bytes(Math.floor((i + 1) * per))}: ${bytes(inUse)} in use, ${starts} arenas start here`)}</title></rect>`);
        out.push(`<rect x="${i * bw}" y="${H - hr}" width="${bw + 0.05}" height="${hr}" fill="#4e79a7" pointer-events="none"/>`);
      }
    }
  }
  if (v.largest) {
    const [off, size] = v.largest;
    const x0 = x(off), w = Math.max(x(size), 1);
    out.push(`<rect x="${x0 + 1}" y="1" width="${Math.max(w - 2, 0.5)}" height="${H - 2}" fill="none" stroke="#000" stroke-width="2.5" data-kind="largest"><title>${esc(`largest free arena: offset ${off}, ${bytes(size)}`)}</title></rect>`);
    out.push(`<text x="${Math.min(Math.max(x0 + w / 2, 60), W - 60)}" y="${H + 16}" text-anchor="middle" font-size="13" fill="#000" font-family="sans-serif">▲ largest free</text>`);
  }
  out.push(`<text x="0" y="${H + 16}" font-size="12" fill="#57606a" font-family="sans-serif">0</text>`);
  out.push(`<text x="${W}" y="${H + 16}" font-size="12" fill="#57606a" text-anchor="end" font-family="sans-serif">${esc(bytes(v.capacity))}</text>`);
  out.push('</svg>');
  return out.join('');
}

function tableHtml(v) {
  const cells = [];
  for (const e of v.table) {
    if (!e) cells.push('<span class="spare" title="spare descriptor">_</span>');
    else cells.push(`<span class="${e[4] ? 'used' : (e[6] ? 'cached' : 'free')}" title="${esc(`slot ${e[3]}: ${ownerName(e)}, offset ${e[0]}, ${bytes(e[1])}`)}"${e[4] ? ` style="background:${PALETTE[e[5] % PALETTE.length] || PALETTE[0]}"` : ''}>${esc(letter(e))}</span>`);
  }
  const more = v.descriptors > v.table.length ? `<span title="more descriptors">… ${v.descriptors - v.table.length} more</span>` : '';
  const rows = [];
  let i = 0;
  while (i < v.table.length) {
    const e = v.table[i];
    if (!e) {
      let j = i;
      while (j + 1 < v.table.length && !v.table[j + 1]) j++;
      const to = j + 1 === v.table.length ? v.descriptors - 1 : j;
      rows.push(`<tr><td>${i}</td><td>-</td><td>-</td><td>-</td><td style="text-align:left">spare ×${to - i + 1} (slots ${i}–${to})</td></tr>`);
      i = j + 1;
      continue;
    }
    rows.push(`<tr><td>${e[3]}</td><td>${e[0]}</td><td>${e[1]}</td><td>${e[2]}</td><td style="text-align:left">${e[4] ? 'in use ' + esc(ownerName(e)) : (e[6] ? 'cached (quick list)' : 'free')}</td></tr>`);
    i++;
  }
  return `<div class="strip" aria-label="arena table: letter = in-use arena, dot = free arena, circle = cached arena, underscore = spare descriptor">${cells.join('')}${more}</div>`
    + `<details><summary>arena table (${v.descriptors - v.stats.spare_descriptors} descriptors describe arenas, ${v.stats.spare_descriptors} spare)</summary><table><thead><tr><th>slot</th><th>offset</th><th>size</th><th>used</th><th style="text-align:left">state</th></tr></thead><tbody>${rows.join('')}</tbody></table></details>`;
}

function statsHtml(v, k) {
  const s = v.stats;
  const pct = (f) => `${(f * 100).toFixed(0)}%`;
  const items = [
    ['in use', `${bytes(s.in_use_bytes)} in ${s.used_arenas} arenas`],
    ['requested', `${bytes(s.requested_bytes)} (slack ${bytes(s.in_use_bytes - s.requested_bytes)})`],
    ['free', `${bytes(s.free_bytes)} in ${s.free_arenas} arenas${s.cached_arenas ? ` (${bytes(s.cached_bytes)} cached in ${s.cached_arenas})` : ''}`],
    ['largest free', bytes(s.largest_free)],
    ['external fragmentation', pct(s.fragmentation)],
    ['descriptors', `${s.descriptors - s.spare_descriptors} used, ${s.spare_descriptors} spare of ${s.descriptors}`],
  ];
  if (v.policy === 'segregated-fit') items.push(['fallback searches', `${s.fallback_searches} (${s.fallback_hits} found a fit)`]);
  const fl = v.free_list.map(([o, sz, c]) => `[${o}+${sz}]${c ? '○' : (v.largest && v.largest[0] === o ? '*' : '')}`).join(' ');
  const more = s.free_arenas > v.free_list.length ? ` … ${s.free_arenas - v.free_list.length} more` : '';
  return `<dl class="stats">${items.map(([a, b]) => `<dt>${a}</dt><dd>${esc(b)}</dd>`).join('')}</dl>`
    + `<p class="freelist">free list (address order, * largest${v.free_list.some((f) => f[2]) ? ', ○ cached' : ''}): ${fl || '(empty)'}${more}</p>`
    + `<p class="stats-line" id="stats-line-${k}">${esc(v.stats_line)}</p>`;
}

function render() {
  const t0 = performance.now();
  panels.forEach((p, k) => {
    const v = core.state(p.id);
    p.view = v;
    const title = `${k === 0 ? 'Main' : 'Panel ' + (k + 1)} · ${v.policy} · ${v.coalescing} coalescing${v.handles ? ' · handles (Movable)' : ''}`;
    const where = v.trace ? `${esc(v.trace.name)}: step ${v.pos} of ${v.len}` : `operation ${v.pos} of ${v.len}`;
    p.el.innerHTML = `<h2><span>${esc(title)}</span><small>${where}</small>${k > 0 ? '<button type="button" class="close">Remove</button>' : ''}</h2>`
      + (k > 0 && p.note ? `<p class="note">${esc(p.note)}</p>` : '')
      + heapSvg(v, k, Math.round(Math.min(1400, Math.max(280, p.el.clientWidth - 24))))
      + '<div class="legend"><span><i class="swatch sw-used"></i>in use (label #N)</span><span><i class="swatch sw-slack"></i>slack (reserved, not requested)</span><span><i class="swatch sw-free"></i>free (hatched)</span><span><i class="swatch sw-largest"></i>largest free (outlined)</span>'
      + (isFast(v) ? '<span><i class="swatch sw-cached"></i>cached (freed, waiting whole in a quick list)</span>' : '') + '</div>'
      + tableHtml(v) + statsHtml(v, k);
    const close = p.el.querySelector('.close');
    if (close) close.addEventListener('click', () => removePanel(p));
  });
  const v = panels[0].view;
  const slider = $('slider');
  slider.max = String(v.len);
  slider.value = String(v.pos);
  $('slider-label').textContent = v.trace ? `step ${v.pos} of ${v.len}` : `operation ${v.pos} of ${v.len}`;
  $('set-policy').value = v.policy;
  $('set-coalescing').value = v.coalescing;
  return performance.now() - t0;
}

function explain(lines, failed) {
  const e = $('explain');
  e.textContent = lines.length ? lines.join('\n') : ' ';
  e.classList.toggle('failed', !!failed);
}

// ---- commands ---------------------------------------------------------------

function showError(where, msg) {
  const span = $(where + '-error');
  if (span) span.textContent = msg ? msg : '';
  const inputs = { cmd: ['cmd'], alloc: ['alloc-size', 'alloc-align'], free: ['free-number'], pass: ['pass-moves'], settings: ['set-capacity', 'set-descriptors'], trace: [] }[where] || [];
  for (const i of inputs) $(i).setAttribute('aria-invalid', msg ? 'true' : 'false');
}
function clearErrors() { for (const w of ['cmd', 'alloc', 'free', 'pass', 'settings', 'trace', 'compare']) showError(w, ''); }

// Runs `text` on the main panel, then on every other panel; an error is shown
// next to `where` and nothing changes.
function run(text, where, answered) {
  clearErrors();
  if (!answered && $('quiz-mode').checked && /^\s*(alloc|a|malloc)\b/.test(text)) {
    return ask(text, where);
  }
  const a = core.exec(panels[0].id, text);
  if (!a.ok) {
    showError(where, a.error);
    return a;
  }
  for (const p of panels.slice(1)) {
    const b = core.exec(p.id, text);
    p.note = b.ok ? b.log.join('\n') : `this panel: ${b.error}`;
  }
  explain(a.log, a.log.some((l) => l.startsWith('✗')));
  render();
  updateLink();
  return a;
}

function ask(text, where) {
  quiz.pending = { text, where };
  $('quiz').hidden = false;
  $('quiz-question').textContent = `Quiz: where will \`${text.trim()}\` land? Type an offset, or press “It fails”.`;
  $('quiz-result').textContent = '';
  $('quiz-answer').value = '';
  $('quiz-answer').focus();
  return { ok: true, quiz: true };
}

function answerQuiz(guess) {
  const q = quiz.pending;
  if (!q) return;
  quiz.pending = null;
  const a = run(q.text, q.where, true);
  if (!a.ok) { $('quiz').hidden = true; return; }
  const landed = a.landed;
  const right = guess === 'fail' ? landed === 'failed' : typeof landed === 'number' && Number(guess) === landed;
  quiz.asked++;
  if (right) quiz.right++;
  $('quiz-result').innerHTML = `<span class="${right ? 'right' : 'wrong'}">${right ? '✓ right' : '✗ not quite'}</span>: it ${landed === 'failed' ? 'failed' : 'landed at offset ' + landed}`;
  $('quiz-score').textContent = `score ${quiz.right}/${quiz.asked}`;
  const next = quiz.queue.shift();
  if (next) setTimeout(() => ask(next, 'cmd'), 0);
  else $('quiz-question').textContent = 'Quiz: done.';
}

function applySettings(text, where) {
  const errs = [];
  for (const p of panels) {
    const extra = p.pinned ? ` policy=${p.policy} coalescing=${p.coalescing} pinned=1` : '';
    const a = core.configure(p.id, text + extra);
    if (!a.ok) { errs.push(a.error); break; }
  }
  if (errs.length) { showError(where, errs[0]); return false; }
  return true;
}

function addPanel(policy, coalescing, pinned) {
  const id = X.pg_new();
  const p = { id, policy, coalescing, pinned, el: document.createElement('article'), view: null, note: '' };
  p.el.className = 'panel';
  const text = `capacity=${settings.capacity} descriptors=${settings.descriptors} policy=${policy} coalescing=${coalescing} handles=${settings.handles ? 1 : 0}${pinned ? ' pinned=1' : ''}`;
  const c = core.configure(id, text);
  if (!c.ok) { X.pg_drop(id); return c.error; }
  if (panels.length > 0) core.adopt(id, panels[0].id);
  panels.push(p);
  $('panels').appendChild(p.el);
  return null;
}
function removePanel(p) {
  const i = panels.indexOf(p);
  if (i <= 0) return;
  panels.splice(i, 1);
  X.pg_drop(p.id);
  p.el.remove();
  render();
  updateLink();
}

// ---- the link ---------------------------------------------------------------

function currentLink() {
  const s = core.script(panels[0].id);
  const parts = [`capacity=${settings.capacity}`, `descriptors=${settings.descriptors}`,
    `policy=${settings.policy}`, `coalescing=${settings.coalescing}`];
  if (settings.handles) parts.push('handles=1');
  if (s.script) parts.push('ops=' + encodeURIComponent(s.script).replace(/%20/g, '+').replace(/%3B/gi, ';'));
  if (s.pos < s.len) parts.push(`at=${s.pos}`);
  const cmp = panels.slice(1).map((p) => `${p.policy}/${p.coalescing}`);
  if (cmp.length) parts.push('compare=' + cmp.join(','));
  return { hash: '#' + parts.join('&'), traced: s.traced };
}
let linkTimer = 0;
function updateLink() {
  clearTimeout(linkTimer);
  linkTimer = setTimeout(() => {
    if (selftesting || benching) return;
    const { hash } = currentLink();
    try { history.replaceState(null, '', hash); } catch (_) { /* file:// in some browsers */ }
  }, 300);
}

// Reads the fragment: returns the problems found (each shown; what came
// before a problem is kept).
function openLink(hash) {
  const problems = [];
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const known = new Set(['capacity', 'descriptors', 'policy', 'coalescing', 'handles', 'ops', 'at', 'compare', 'quiz', 'selftest', 'bench']);
  for (const k of params.keys()) if (!known.has(k)) problems.push(`unknown key “${k}” ignored`);
  const s = { ...settings };
  for (const k of ['capacity', 'descriptors', 'policy', 'coalescing']) if (params.has(k)) s[k] = params.get(k).trim();
  if (params.has('handles')) s.handles = params.get('handles').trim() === '1';
  const text = `capacity=${s.capacity} descriptors=${s.descriptors} policy=${s.policy} coalescing=${s.coalescing} handles=${s.handles ? 1 : 0}`;
  const c = core.configure(panels[0].id, text);
  if (c.ok) settings = s; else problems.push(`settings: ${c.error} (kept ${settings.capacity} B, ${settings.descriptors} descriptors)`);
  fillSettings();
  if (params.has('ops')) {
    const a = core.exec(panels[0].id, params.get('ops'));
    if (!a.ok) {
      const cmd = params.get('ops').split(/[;\n]/).map((x) => x.trim()).filter((x) => x && !x.startsWith('#'))[a.index];
      problems.push(`ops: command ${a.index + 1} “${cmd}” — ${a.error}; the ${a.index} before it are replayed`);
    } else explain(a.log, a.log.some((l) => l.startsWith('✗')));
  }
  if (params.has('at')) {
    const at = params.get('at');
    if (/^\d+$/.test(at)) core.exec(panels[0].id, `goto ${at}`);
    else problems.push(`at: “${at}” is not a number`);
  }
  if (params.has('compare')) {
    for (const spec of params.get('compare').split(',').filter(Boolean).slice(0, 3)) {
      const [pol, coal = 'deferred'] = spec.split('/');
      const e = addPanel(pol.trim(), coal.trim(), true);
      if (e) problems.push(`compare “${spec}”: ${e}`);
    }
  }
  if (params.has('quiz')) {
    quiz.queue = params.get('quiz').split(';').map((x) => x.trim()).filter(Boolean);
    $('quiz-mode').checked = true;
  }
  return { problems, selftest: params.has('selftest'), bench: params.get('bench') };
}

function fillSettings() {
  $('set-capacity').value = settings.capacity;
  $('set-descriptors').value = settings.descriptors;
  $('set-policy').value = settings.policy;
  $('set-coalescing').value = settings.coalescing;
  $('set-handles').checked = !!settings.handles;
}

// ---- traces -----------------------------------------------------------------

async function loadTraceFile(name, buf) {
  clearErrors();
  const bytesIn = new Uint8Array(buf);
  const max = Number($('trace-max').value) || 0;
  if (!/^\d*$/.test($('trace-max').value.trim())) { showError('trace', `“${$('trace-max').value}” is not a number of events`); return false; }
  // A trace needs room: the command line's defaults for traces.
  const big = Number(panels[0].view ? panels[0].view.capacity : 0) < (16 << 20);
  const a = core.loadTrace(panels[0].id, name, bytesIn, max);
  if (!a.ok) { showError('trace', a.error); return false; }
  if (big) {
    settings.capacity = '16M';
    settings.descriptors = '65536';
    applySettings(`capacity=16M descriptors=65536`, 'trace');
    fillSettings();
  }
  for (const p of panels.slice(1)) core.adopt(p.id, panels[0].id);
  traceLoaded = true;
  explain(a.log.concat(big ? ['region set to 16 MiB with 65536 descriptors (as `sysarena step TRACE`); change it above'] : []), false);
  render();
  return true;
}

// ---- scrubbing --------------------------------------------------------------

let seekTo = null;
function scheduleSeek(n) {
  if (seekTo === null) requestAnimationFrame(() => { const k = seekTo; seekTo = null; goto(k); });
  seekTo = n;
}
function goto(n) {
  for (const p of panels) core.exec(p.id, `goto ${n}`);
  explain(['moved to ' + (traceLoaded ? 'step ' : 'operation ') + n], false);
  render();
  updateLink();
}

// ---- SVG export -------------------------------------------------------------

function exportSvg() {
  const svg = heapSvg(panels[0].view, 'x');
  const blob = new Blob([svg], { type: 'image/svg+xml' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'sysarena-heap-map.svg';
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  return svg;
}

// ---- wiring -----------------------------------------------------------------

function wire() {
  let resizeTimer = 0;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(render, 150); });
  $('settings').addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors();
    const s = { capacity: $('set-capacity').value.trim(), descriptors: $('set-descriptors').value.trim(), policy: $('set-policy').value, coalescing: $('set-coalescing').value, handles: $('set-handles').checked };
    // Policy and coalescing changes are operations (undoable); the region,
    // the table and handles are settings (the history is replayed on them).
    // A handle-based manager keeps its configuration: there they are settings too.
    const cfg = s.handles ? ` policy=${s.policy} coalescing=${s.coalescing}` : '';
    if (applySettings(`capacity=${s.capacity} descriptors=${s.descriptors} handles=${s.handles ? 1 : 0}${cfg}`, 'settings')) {
      settings.capacity = s.capacity;
      settings.descriptors = s.descriptors;
      settings.handles = s.handles;
      if (s.handles) { settings.policy = s.policy; settings.coalescing = s.coalescing; }
      const v = core.state(panels[0].id);
      if (s.policy !== v.policy) run(`policy ${s.policy}`, 'settings');
      if (s.coalescing !== v.coalescing) run(`coalescing ${s.coalescing}`, 'settings');
      explain([`region ${s.capacity} B, ${s.descriptors} descriptors${s.handles ? ', handles (Movable)' : ''}; the history was replayed on them`], false);
      render();
      updateLink();
    }
  });
  $('alloc-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const size = $('alloc-size').value.trim(), align = $('alloc-align').value.trim() || '1';
    if (!size) return showError('alloc', 'type a size');
    if (/\s/.test(size) || /\s/.test(align)) return showError('alloc', 'one number each');
    run(`alloc ${size} ${align}`, 'alloc');
  });
  $('free-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const n = $('free-number').value.trim();
    if (!n || /\s/.test(n)) return showError('free', 'type an allocation number, e.g. 0, or @offset');
    run(`free ${n}`, 'free');
  });
  $('btn-defrag').addEventListener('click', () => run('defrag', 'cmd'));
  $('btn-relocate').addEventListener('click', () => run('relocate', 'cmd'));
  $('btn-undo').addEventListener('click', () => run('undo', 'cmd'));
  $('pass-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const n = $('pass-moves').value.trim() || '1';
    if (/\s/.test(n)) return showError('pass', 'one number');
    run(`pass ${n}`, 'pass');
  });
  $('btn-redo').addEventListener('click', () => run('redo', 'cmd'));
  $('cmd-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('cmd').value;
    if (!text.trim()) return;
    if (/[;\n]/.test(text)) return showError('cmd', 'one command at a time here (a link’s ops may hold several)');
    const a = run(text, 'cmd');
    if (a.ok) { recall.push(text); recallAt = recall.length; $('cmd').value = ''; }
  });
  $('cmd').addEventListener('keydown', (e) => {
    if (e.key === 'ArrowUp' && recallAt > 0) { recallAt--; $('cmd').value = recall[recallAt]; e.preventDefault(); }
    if (e.key === 'ArrowDown') { recallAt = Math.min(recall.length, recallAt + 1); $('cmd').value = recall[recallAt] || ''; e.preventDefault(); }
  });
  $('slider').addEventListener('input', () => scheduleSeek(Number($('slider').value)));
  $('quiz').addEventListener('submit', (e) => {
    e.preventDefault();
    const g = $('quiz-answer').value.trim().replace(/^@/, '');
    if (!/^\d+$/.test(g)) { $('quiz-result').textContent = 'type an offset (a number), or press “It fails”'; return; }
    answerQuiz(g);
  });
  $('quiz-fails').addEventListener('click', () => answerQuiz('fail'));
  $('quiz-mode').addEventListener('change', () => { if (!$('quiz-mode').checked) { quiz.pending = null; $('quiz').hidden = true; } });
  $('btn-compare').addEventListener('click', () => {
    clearErrors();
    if (panels.length >= 4) return showError('compare', 'at most 4 panels');
    const e = addPanel($('cmp-policy').value, $('cmp-coalescing').value, true);
    if (e) return showError('compare', e);
    render();
    updateLink();
  });
  $('btn-svg').addEventListener('click', exportSvg);
  $('btn-link').addEventListener('click', async () => {
    const { hash, traced } = currentLink();
    const url = location.href.split('#')[0] + hash;
    try { await navigator.clipboard.writeText(url); $('link-note').textContent = 'copied' + (traced ? ' (a trace cannot travel in a link: only typed operations)' : ''); } catch (_) { $('link-note').textContent = url; }
  });
  $('trace-file').addEventListener('change', async () => {
    const f = $('trace-file').files[0];
    if (f) await loadTraceFile(f.name, await f.arrayBuffer());
  });
  const drop = $('drop');
  document.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  document.addEventListener('dragleave', () => drop.classList.remove('over'));
  document.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) await loadTraceFile(f.name, await f.arrayBuffer());
  });
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('trace-file').click(); } });
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA') || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '/') { e.preventDefault(); $('cmd').focus(); }
    if (e.key === 'z') run('undo', 'cmd');
    if (e.key === 'y') run('redo', 'cmd');
  });
  window.addEventListener('hashchange', () => {
    if (selftesting || benching) return;
    if (location.hash === currentLink().hash) return;
    restart(location.hash);
  });
}

function restart(hash) {
  while (panels.length > 1) removePanel(panels[panels.length - 1]);
  X.pg_drop(panels[0].id);
  panels[0].el.remove();
  panels.length = 0;
  settings = { capacity: '1024', descriptors: '16', policy: 'first-fit', coalescing: 'deferred', handles: false };
  addPanel(settings.policy, settings.coalescing, false);
  const r = openLink(hash);
  showProblems(r.problems);
  render();
  return r;
}
function showProblems(problems) {
  const p = $('url-error');
  p.hidden = problems.length === 0;
  p.textContent = problems.length ? 'The link: ' + problems.join('; ') : '';
}

// ---- self test (CI) and the redraw measurement --------------------------------

let selftesting = false;
let benching = false;
async function selftest() {
  selftesting = true;
  const fails = [];
  const check = (ok, what) => { if (!ok) fails.push(what); };
  const line = () => $('stats-line-0').textContent;
  const main = panels[0];
  check(line() === main.view.stats_line, 'the displayed stats line is the core’s');
  if (main.view.arenas) check(main.el.querySelectorAll('rect[data-kind="used"],rect[data-kind="free"],rect[data-kind="cached"]').length === main.view.arenas.length, 'one rectangle per arena');
  const before = line(), pos = main.view.pos;
  // Bad input: an error next to the field, nothing changes.
  for (const [field, value, form] of [['cmd', 'alloc 0', 'cmd-form'], ['cmd', 'allco 10', 'cmd-form'], ['alloc-size', '-5', 'alloc-form'], ['free-number', '9999', 'free-form']]) {
    $(field).value = value;
    $(form).requestSubmit();
    const where = { 'cmd-form': 'cmd', 'alloc-form': 'alloc', 'free-form': 'free' }[form];
    check($(where + '-error').textContent.length > 0, `an error is shown for “${value}”`);
    check(line() === before && panels[0].view.pos === pos, `“${value}” changed nothing`);
  }
  $('set-capacity').value = '0';
  $('settings').requestSubmit();
  check($('settings-error').textContent.length > 0 && line() === before, 'a region of 0 bytes is refused');
  $('set-capacity').value = settings.capacity;
  // Undo, redo, the slider.
  if (pos > 0) {
    $('btn-undo').click();
    check(panels[0].view.pos === pos - 1, 'undo goes back one');
    $('btn-redo').click();
    check(line() === before && panels[0].view.pos === pos, 'redo restores the state');
    goto(0);
    goto(pos);
    check(line() === before, 'the slider returns to the same state');
  }
  // A side-by-side panel follows.
  const n = panels.length;
  $('cmp-policy').value = 'segregated-fit';
  $('btn-compare').click();
  check(panels.length === n + 1 && panels[n].view.pos === pos, 'a new panel starts where the main one is');
  removePanel(panels[n]);
  // Export.
  const svg = exportSvg();
  const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
  check(!doc.querySelector('parsererror') && doc.querySelectorAll('rect').length > 0, 'the SVG export parses');
  // A garbage trace and a truncated gzip are refused and change nothing.
  check(!(await loadTraceFile('garbage.trace', enc.encode('hello world\n').buffer)) && $('trace-error').textContent.length > 0 && line() === before, 'a garbage trace is refused');
  check(!(await loadTraceFile('cut.trace.gz', new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0]).buffer)) && line() === before, 'a truncated gzip is refused');
  // Keyboard: z undoes, y redoes.
  if (pos > 0) {
    document.body.focus();
    document.dispatchEvent(new KeyboardEvent('keydown', { key: 'z' }));
    document.dispatchEvent(new KeyboardEvent('keydown', { key: 'y' }));
    check(line() === before, 'z then y leaves the state as it was');
  }
  // Quiz mode: the alloc waits for a prediction, then the core answers.
  $('quiz-mode').checked = true;
  $('cmd').value = 'alloc 1';
  $('cmd-form').requestSubmit();
  check(!$('quiz').hidden && line() === before, 'quiz mode asks before it allocates');
  $('quiz-fails').click();
  check(/^(✓|✗)/.test($('quiz-result').textContent) && $('quiz-score').textContent === `score ${quiz.right}/1`, 'quiz mode checks the answer');
  $('quiz-mode').checked = false;
  $('quiz-mode').dispatchEvent(new Event('change'));
  $('btn-undo').click();
  check(line() === before && $('quiz').hidden, 'undo takes the quiz’s allocation back');
  // The newcomer's minute: the headline link, then Defragment, alloc 200,
  // Relocate, alloc 200 — by the page's own controls.
  restart('#capacity=400&descriptors=8&ops=alloc+100;alloc+100;alloc+100;alloc+100;free+1;free+3;alloc+200');
  const said = () => $('explain').textContent;
  check(said().includes('although 200 B are free') && said().includes('cannot help'), 'the headline fails with 200 B free');
  $('btn-defrag').click();
  $('cmd').value = 'alloc 200';
  $('cmd-form').requestSubmit();
  check(said().startsWith('✗ alloc(200)'), 'after defragment alloc(200) still fails');
  $('btn-relocate').click();
  check(said().startsWith('relocate: moved 1 live blocks'), 'relocate moves one block');
  $('cmd').value = 'alloc 200';
  $('cmd-form').requestSubmit();
  check(said().startsWith('✓ alloc(200) = #6 at offset 200'), 'after relocation alloc(200) fits');
  // Handles: a pass needs them; with them, bounded passes close the holes.
  $('pass-moves').value = '2';
  $('pass-form').requestSubmit();
  check(panels[0].view.handles || $('pass-error').textContent.includes('handles'), 'a pass without handles is refused next to its field');
  restart('#capacity=1000&descriptors=32&handles=1&ops=' + Array(10).fill('alloc+100').join(';') + ';free+0;free+2;free+4;free+6;free+8');
  check($('set-handles').checked && panels[0].view.handles, 'handles=1 in a link makes a Movable manager');
  for (let i = 0; i < 20 && !said().includes('converged'); i++) $('pass-form').requestSubmit();
  check(said().includes('converged') && panels[0].view.stats.largest_free === 500, 'bounded passes close the holes');
  // The fast model: a freed 32-byte block waits in a quick list, drawn in
  // its colour, named in the legend and the stats; alloc 32 takes it back.
  restart('#capacity=1K&policy=segregated-fit&coalescing=immediate&ops=alloc+32;alloc+32;free+0');
  check(panels[0].el.querySelectorAll('rect[data-kind="cached"]').length === 1 && panels[0].view.stats.cached_arenas === 1, 'a cached arena is drawn');
  check(panels[0].el.querySelector('.sw-cached') !== null && line().includes('(32 B cached in 1)'), 'the legend and the stats line name cached arenas');
  check(said().includes('quick list of 32 B arenas'), 'the free says it waits in a quick list');
  $('cmd').value = 'alloc 32';
  $('cmd-form').requestSubmit();
  check(said().includes('taken back from the quick list') && panels[0].view.stats.cached_arenas === 0, 'alloc 32 takes the cached arena back');
  restart(location.hash);
  check(line() === before, 'the link replays to the same state again');
  clearErrors();
  check(pageErrors.length === 0, 'no page error');
  const verdict = fails.length === 0 && pageErrors.length === 0 ? 'selftest: PASS' : 'selftest: FAIL — ' + fails.concat(pageErrors).join('; ');
  $('selftest-verdict').textContent = `${verdict} (${panels.length} panel(s), operation ${panels[0].view.pos} of ${panels[0].view.len})`;
  selftesting = false;
}

async function bench(n) {
  benching = true;
  const b64 = window.SYSARENA_TRACE;
  if (!b64) { $('bench').textContent = 'bench: this page has no embedded trace (build it with playground/build.sh --bench TRACE)'; return; }
  const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  $('trace-max').value = String(n);
  let t0 = performance.now();
  const ok = await loadTraceFile(window.SYSARENA_TRACE_NAME || 'trace.gz', raw.buffer);
  const tLoad = performance.now() - t0;
  if (!ok) { $('bench').textContent = 'bench: the trace did not load: ' + $('trace-error').textContent; return; }
  const len = panels[0].view.len;
  // Each figure includes the layout the new DOM needs (forced by reading a size).
  const time = (f) => { const s = performance.now(); f(); void document.body.offsetHeight; return performance.now() - s; };
  const coreOnly = (k) => time(() => core.exec(panels[0].id, `goto ${k}`));
  const full = (k) => time(() => goto(k));
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
  const rows = [];
  const tEnd = full(len);
  // Scrub backwards and forwards in jumps, then single steps at the end.
  const jumps = [];
  for (let i = 1; i <= 10; i++) jumps.push(full(Math.floor(len * (i % 2 ? 0.5 + i / 40 : 0.9 - i / 40))));
  const cores = [];
  goto(len);
  for (let i = 1; i <= 5; i++) cores.push(coreOnly(Math.floor(len * (1 - i / 10))));
  goto(len - 50);
  const fwd = [];
  for (let i = 0; i < 20; i++) fwd.push(full(len - 49 + i));
  const back = [];
  for (let i = 0; i < 5; i++) back.push(full(len - 30 - i));
  const draws = [];
  for (let i = 0; i < 10; i++) draws.push(time(() => render()));
  const v = panels[0].view;
  rows.push(`bench: ${len} events of ${window.SYSARENA_TRACE_NAME}, ${v.stats.used_arenas + v.stats.free_arenas} arenas at step ${v.pos} (heap map in ${v.arenas ? 'arenas' : v.buckets.length + ' buckets'})`);
  rows.push(`load ${tLoad.toFixed(0)} ms; goto end (replay all) ${tEnd.toFixed(0)} ms`);
  rows.push(`redraw only (state + SVG + table + DOM): median ${median(draws).toFixed(1)} ms`);
  rows.push(`scrub one step forward (apply + redraw): median ${median(fwd).toFixed(1)} ms`);
  rows.push(`scrub back (replay from 0 + redraw): median ${median(back).toFixed(0)} ms`);
  rows.push(`slider jumps (mixed): median ${median(jumps).toFixed(0)} ms, max ${Math.max(...jumps).toFixed(0)} ms; the core's replay alone for a jump back (no drawing): median ${median(cores).toFixed(0)} ms`);
  rows.push(`page errors: ${pageErrors.length}`);
  $('bench').textContent = rows.join('\n');
  benching = false;
}

// ---- start --------------------------------------------------------------------

async function boot() {
  // Inside the book (an iframe): the chapter says what the page is.
  if (window.self !== window.top) document.body.classList.add('embedded');
  try {
    const raw = Uint8Array.from(atob(window.SYSARENA_WASM), (c) => c.charCodeAt(0));
    // Compiled synchronously where the browser allows it (the whole start,
    // a link's replay included, then finishes before the load event), else
    // asynchronously.
    let instance;
    try {
      instance = new WebAssembly.Instance(new WebAssembly.Module(raw), {});
    } catch (_) {
      instance = (await WebAssembly.instantiate(raw, {})).instance;
    }
    X = instance.exports;
  } catch (e) {
    const b = $('boot-error');
    b.hidden = false;
    b.textContent = 'This browser could not start the WebAssembly core: ' + e;
    return;
  }
  const help = core.exec(addPanelBoot(), 'help');
  $('help-text').textContent = help.log.join('\n');
  wire();
  const r = openLink(location.hash);
  showProblems(r.problems);
  render();
  if (quiz.queue.length) ask(quiz.queue.shift(), 'cmd');
  if (r.selftest) await selftest();
  if (r.bench) await bench(Number(r.bench) || 100000);
}
function addPanelBoot() {
  addPanel(settings.policy, settings.coalescing, false);
  return panels[0].id;
}

boot();
