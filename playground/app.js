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
  check(id, text) { put(text); return answer(X.pg_check(id)); },
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

const panels = []; // {id, policy, coalescing, pinned, el, view, note, tableOpen}
const defaults = () => ({ capacity: '1024', descriptors: '16', policy: 'first-fit', coalescing: 'deferred', handles: false });
let settings = defaults();
const recall = [];
let recallAt = 0;
const quiz = { queue: [], pending: null, right: 0, asked: 0 };
let traceLoaded = false;
// A policy or coalescing picked in the settings but not applied yet: the
// next drawing keeps the pick (and says it waits for Apply).
let pendingConfig = false;
let intro = ''; // the explanation line's first words, restored by a new link

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

function tableHtml(v, open) {
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
      // The range ends at the last row shown: rows past it are not known here.
      rows.push(`<tr><td>${i}</td><td>-</td><td>-</td><td>-</td><td style="text-align:left">spare ×${j - i + 1} (${i === j ? `slot ${i}` : `slots ${i}–${j}`})</td></tr>`);
      i = j + 1;
      continue;
    }
    rows.push(`<tr><td>${e[3]}</td><td>${e[0]}</td><td>${e[1]}</td><td>${e[2]}</td><td style="text-align:left">${e[4] ? 'in use ' + esc(ownerName(e)) : (e[6] ? 'cached (quick list)' : 'free')}</td></tr>`);
    i++;
  }
  if (v.descriptors > v.table.length) {
    const n = v.descriptors - v.table.length;
    rows.push(`<tr><td colspan="5" style="text-align:left">… ${n} more descriptor${n === 1 ? '' : 's'} not shown (slot${n === 1 ? ` ${v.table.length}` : `s ${v.table.length}–${v.descriptors - 1}`})</td></tr>`);
  }
  return `<div class="strip" aria-label="arena table: letter = in-use arena, dot = free arena, circle = cached arena, underscore = spare descriptor">${cells.join('')}${more}</div>`
    + `<details class="arena-table"${open ? ' open' : ''}><summary>arena table (${v.descriptors - v.stats.spare_descriptors} descriptors describe arenas, ${v.stats.spare_descriptors} spare)</summary><table><thead><tr><th>slot</th><th>offset</th><th>size</th><th>used</th><th style="text-align:left">state</th></tr></thead><tbody>${rows.join('')}</tbody></table></details>`;
}

// The stats' largest free arena counts cached arenas; the picture outlines
// the largest that is not cached (a cached arena serves only its own size).
// When the two differ, say so.
function largestText(v) {
  const s = v.stats, outlined = v.largest ? v.largest[1] : 0;
  if (s.largest_free <= outlined) return bytes(s.largest_free);
  return outlined
    ? `${bytes(s.largest_free)} (cached; the largest not cached, ${bytes(outlined)}, is outlined)`
    : `${bytes(s.largest_free)} (cached; no free arena is outside the quick lists)`;
}

function statsHtml(v, k) {
  const s = v.stats;
  const pct = (f) => `${(f * 100).toFixed(0)}%`;
  const items = [
    ['in use', `${bytes(s.in_use_bytes)} in ${s.used_arenas} arenas`],
    ['requested', `${bytes(s.requested_bytes)} (slack ${bytes(s.in_use_bytes - s.requested_bytes)})`],
    ['free', `${bytes(s.free_bytes)} in ${s.free_arenas} arenas${s.cached_arenas ? ` (${bytes(s.cached_bytes)} cached in ${s.cached_arenas})` : ''}`],
    ['largest free', largestText(v)],
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
    // The arena table stays open across redraws once opened.
    const d = p.el.querySelector('details.arena-table');
    if (d) p.tableOpen = d.open;
    const title = `${k === 0 ? 'Main' : 'Panel ' + (k + 1)} · ${v.policy} · ${v.coalescing} coalescing${v.handles ? ' · handles (Movable)' : ''}`;
    const where = v.trace ? `${esc(v.trace.name)}: step ${v.pos} of ${v.len}` : `operation ${v.pos} of ${v.len}`;
    p.el.innerHTML = `<h2><span>${esc(title)}</span><small>${where}</small>${k > 0 ? '<button type="button" class="close">Remove</button>' : ''}</h2>`
      + (k > 0 && p.note ? `<p class="note">${esc(p.note)}</p>` : '')
      + heapSvg(v, k, Math.round(Math.min(1400, Math.max(280, p.el.clientWidth - 24))))
      + '<div class="legend"><span><i class="swatch sw-used"></i>in use (label #N)</span><span><i class="swatch sw-slack"></i>slack (reserved, not requested)</span><span><i class="swatch sw-free"></i>free (hatched)</span><span><i class="swatch sw-largest"></i>largest free (outlined)</span>'
      + (isFast(v) ? '<span><i class="swatch sw-cached"></i>cached (freed, waiting whole in a quick list)</span>' : '') + '</div>'
      + tableHtml(v, p.tableOpen) + statsHtml(v, k);
    const close = p.el.querySelector('.close');
    if (close) close.addEventListener('click', () => removePanel(p));
  });
  const v = panels[0].view;
  const slider = $('slider');
  slider.max = String(v.len);
  slider.value = String(v.pos);
  $('slider-label').textContent = v.trace ? `step ${v.pos} of ${v.len}` : `operation ${v.pos} of ${v.len}`;
  if (pendingConfig && $('set-policy').value === v.policy && $('set-coalescing').value === v.coalescing) pendingConfig = false;
  if (!pendingConfig) {
    $('set-policy').value = v.policy;
    $('set-coalescing').value = v.coalescing;
  }
  $('settings-note').textContent = pendingConfig ? 'not applied yet: press Apply settings' : '';
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

// Runs `text` on the main panel, then on every other panel, one command at a
// time, so the panels stay in step; an error is shown next to `where`, and
// the commands before it stay applied (and drawn). With quiz mode on, an
// allocation the core would run is asked first; one it would refuse is
// refused at once.
function run(text, where, answered) {
  clearErrors();
  const cmds = text.split(/[;\n]/).map((c) => c.trim()).filter(Boolean);
  if (!answered && $('quiz-mode').checked && cmds.length === 1 && ALLOC.test(cmds[0])) {
    const c = core.check(panels[0].id, cmds[0]);
    if (!c.ok) { showError(where, c.error); return c; }
    return ask(cmds[0], where);
  }
  let a = { ok: true, log: [], landed: 'none' }, last = null, done = 0;
  for (const cmd of cmds) {
    const r = core.exec(panels[0].id, cmd);
    if (!r.ok) { a = r; break; }
    for (const p of panels.slice(1)) {
      const b = core.exec(p.id, cmd);
      p.note = b.ok ? b.log.join('\n') : `this panel: ${b.error}`;
    }
    a = last = r;
    done++;
  }
  if (!a.ok) {
    showError(where, cmds.length > 1 ? `command ${done + 1} “${cmds[done]}”: ${a.error}${done ? ` (the ${done} before it ran)` : ''}` : a.error);
    if (!done) return a;
  }
  if (last) explain(last.log, last.log.some((l) => l.startsWith('✗')));
  render();
  updateLink();
  return a;
}
const ALLOC = /^(alloc|a|malloc)(\s|$)/;

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
  if (quiz.queue.length) setTimeout(askNext, 0);
  else $('quiz-question').textContent = 'Quiz: done.';
}

// Asks the next question of a link's quiz that the core would run now.
function askNext() {
  while (quiz.queue.length) {
    const q = quiz.queue.shift();
    const c = core.check(panels[0].id, q);
    if (c.ok) return ask(q, 'cmd');
    showError('cmd', `quiz “${q}” skipped: ${c.error}`);
  }
  return null;
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
  const bad = [policy, coalescing].find((x) => !oneWord(x));
  if (bad !== undefined) return `“${bad}” is not one word`;
  const text = `${settingsText({ ...settings, policy, coalescing })}${pinned ? ' pinned=1' : ''}`;
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
  return { hash: '#' + parts.join('&'), traced: s.traced, leftOut: s.left_out || 0 };
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

// The settings as the core reads them (each value checked to be one word).
function settingsText(s) {
  return `capacity=${s.capacity} descriptors=${s.descriptors} policy=${s.policy} coalescing=${s.coalescing} handles=${s.handles ? 1 : 0}`;
}
// One value of the settings: no spaces, no `=` (the core's settings text is
// `key=value` words), nothing empty.
const oneWord = (v) => /^[^\s=]+$/.test(v);
// A size as typed: `1 K` is `1K`.
const sizeWord = (v) => v.trim().replace(/^(\d+)\s+([KMGkmg](?:i?B)?|B)$/, '$1$2');
// An on/off value: 1/0, true/false, yes/no, on/off; null for anything else.
function onOff(v) {
  const t = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  return null;
}
// Whether a fragment is a place in the page (`#help`), not a scenario.
function isAnchor(hash) {
  const id = hash.replace(/^#/, '');
  return /^[A-Za-z][\w-]*$/.test(id) && document.getElementById(id) !== null;
}

// Reads the fragment: returns the problems found (each shown). Every value
// is taken on its own: a bad one is reported and ignored, the good ones are
// kept.
function openLink(hash) {
  const problems = [];
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const known = new Set(['capacity', 'descriptors', 'policy', 'coalescing', 'handles', 'ops', 'at', 'compare', 'quiz', 'selftest', 'bench']);
  for (const k of params.keys()) if (!known.has(k)) problems.push(`unknown key “${k}” ignored`);
  let s = { ...settings };
  for (const k of ['capacity', 'descriptors', 'policy', 'coalescing', 'handles']) {
    if (!params.has(k)) continue;
    const raw = params.get(k).trim();
    let v = k === 'capacity' ? sizeWord(raw) : raw;
    if (k === 'handles') {
      v = onOff(raw);
      if (v === null) { problems.push(`handles “${raw}” ignored: write 1 or 0 (or true/false)`); continue; }
    } else if (!oneWord(v)) {
      problems.push(`${k} “${raw}” ignored: one value, no spaces (kept ${s[k]})`);
      continue;
    }
    const t = { ...s, [k]: v };
    const c = core.configure(panels[0].id, settingsText(t));
    if (c.ok) s = t; else problems.push(`${k} “${raw}” ignored: ${c.error} (kept ${k === 'handles' ? (s.handles ? 1 : 0) : s[k]})`);
  }
  core.configure(panels[0].id, settingsText(s));
  settings = s;
  fillSettings();
  if (params.has('ops')) {
    const a = core.exec(panels[0].id, params.get('ops'));
    if (!a.ok) {
      problems.push(`ops: command ${a.index + 1} “${a.command}” — ${a.error}; ${a.index === 0 ? 'nothing before it to replay' : a.index === 1 ? 'the command before it is replayed' : `the ${a.index} before it are replayed`}`);
    } else explain(a.log, a.log.some((l) => l.startsWith('✗')));
  }
  if (params.has('at')) {
    const at = params.get('at').trim();
    if (/^\d+$/.test(at)) {
      core.exec(panels[0].id, `goto ${at}`);
      const v = core.state(panels[0].id);
      if (Number(at) > v.len) problems.push(`at: “${at}” is past the ${v.len} operations; showing the last`);
      // The explanation of the last operation replayed is not what is shown.
      explain([`operation ${Math.min(Number(at), v.len)} of ${v.len} (the link's at=${at}); the operations after it wait: redo, or move the slider`], false);
    } else problems.push(`at “${at}” ignored: not a number`);
  }
  if (params.has('compare')) {
    const specs = params.get('compare').split(',').map((x) => x.trim()).filter(Boolean);
    for (const spec of specs.slice(0, 3)) {
      const [pol, coal = 'deferred'] = spec.split('/');
      const e = addPanel(pol.trim(), coal.trim(), true);
      if (e) problems.push(`compare “${spec}” ignored: ${e}`);
    }
    if (specs.length > 3) problems.push(`compare: at most 3 extra panels; ${specs.slice(3).map((x) => `“${x}”`).join(', ')} ignored`);
  }
  if (params.has('quiz')) {
    quiz.queue = [];
    for (const q of params.get('quiz').split(';').map((x) => x.trim()).filter(Boolean)) {
      if (!ALLOC.test(q)) { problems.push(`quiz “${q}” ignored: only allocations are asked (alloc SIZE [ALIGN])`); continue; }
      const c = core.check(panels[0].id, q);
      if (!c.ok) { problems.push(`quiz “${q}” ignored: ${c.error}`); continue; }
      quiz.queue.push(q);
    }
    if (quiz.queue.length) $('quiz-mode').checked = true;
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
    const capRaw = $('set-capacity').value, descRaw = $('set-descriptors').value;
    const s = { capacity: sizeWord(capRaw), descriptors: descRaw.trim(), policy: $('set-policy').value, coalescing: $('set-coalescing').value, handles: $('set-handles').checked };
    // Each field is one value: `400 pinned=1` must not reach the core's
    // settings text as two.
    if (!oneWord(s.capacity)) return showError('settings', `region size “${capRaw.trim()}”: one size, e.g. 400, 64K, 16M`);
    if (!/^\d+$/.test(s.descriptors)) return showError('settings', `descriptors “${descRaw.trim()}”: a whole number, e.g. 16`);
    // Policy and coalescing changes are operations (undoable, recorded at
    // the cursor: a trace's later events stay); the region, the table and
    // handles are settings (the history is replayed on them). A
    // handle-based manager keeps its configuration: there they are
    // settings too.
    const replay = s.capacity !== settings.capacity || s.descriptors !== settings.descriptors || s.handles !== settings.handles
      || (s.handles && (s.policy !== settings.policy || s.coalescing !== settings.coalescing));
    const lines = [];
    if (replay) {
      const cfg = s.handles ? ` policy=${s.policy} coalescing=${s.coalescing}` : '';
      if (!applySettings(`capacity=${s.capacity} descriptors=${s.descriptors} handles=${s.handles ? 1 : 0}${cfg}`, 'settings')) return;
      settings.capacity = s.capacity;
      settings.descriptors = s.descriptors;
      settings.handles = s.handles;
      if (s.handles) { settings.policy = s.policy; settings.coalescing = s.coalescing; }
      const v = core.state(panels[0].id);
      lines.push(`region ${s.capacity} B, ${s.descriptors} descriptors${s.handles ? `, handles (Movable) with ${s.policy} and ${s.coalescing} coalescing` : ''}: the history was replayed on them (${v.trace ? 'step' : 'operation'} ${v.pos} of ${v.len})`);
    }
    pendingConfig = false;
    if (!s.handles) {
      const v = core.state(panels[0].id);
      for (const [word, want, have] of [['policy', s.policy, v.policy], ['coalescing', s.coalescing, v.coalescing]]) {
        if (want === have) continue;
        const a = run(`${word} ${want}`, 'settings');
        if (!a.ok) return;
        lines.push(...a.log);
      }
    }
    explain(lines.length ? lines : ['nothing to change'], false);
    render();
    updateLink();
  });
  for (const id of ['set-policy', 'set-coalescing']) {
    $(id).addEventListener('change', () => { pendingConfig = true; $('settings-note').textContent = 'not applied yet: press Apply settings'; });
  }
  $('alloc-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const size = $('alloc-size').value.trim(), align = $('alloc-align').value.trim() || '1';
    if (!size) return showError('alloc', 'type a size');
    if (/[\s;]/.test(size) || /[\s;]/.test(align)) return showError('alloc', 'one number each (no spaces, no “;”)');
    run(`alloc ${size} ${align}`, 'alloc');
  });
  $('free-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const n = $('free-number').value.trim();
    if (!n || /[\s;]/.test(n)) return showError('free', 'one allocation number, e.g. 0 or #0, or @offset');
    run(`free ${n}`, 'free');
  });
  $('btn-defrag').addEventListener('click', () => run('defrag', 'cmd'));
  $('btn-relocate').addEventListener('click', () => run('relocate', 'cmd'));
  $('btn-undo').addEventListener('click', () => run('undo', 'cmd'));
  $('pass-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const n = $('pass-moves').value.trim() || '1';
    if (/[\s;]/.test(n)) return showError('pass', 'one number');
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
    const { hash, traced, leftOut } = currentLink();
    const url = location.href.split('#')[0] + hash;
    const notes = [];
    if (traced) notes.push('a trace cannot travel in a link: only typed operations');
    if (leftOut) notes.push(`${leftOut} operation${leftOut === 1 ? '' : 's'} that change nothing with these settings left out`);
    const note = notes.length ? ` (${notes.join('; ')})` : '';
    try { await navigator.clipboard.writeText(url); $('link-note').textContent = 'copied' + note; } catch (_) { $('link-note').textContent = url + note; }
  });
  $('trace-file').addEventListener('change', () => {
    const f = $('trace-file').files[0];
    traceLoading = (async () => {
      try {
        if (f) await loadTraceFile(f.name, await f.arrayBuffer());
      } finally {
        // Picking the same file again (after fixing it, or after an error)
        // must fire `change` again.
        $('trace-file').value = '';
      }
    })();
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
    hashChanged(location.hash);
  });
}
let traceLoading = null; // the trace picker's last load (the selftest awaits it)

// A new fragment: a place in the page (`#help`) is only scrolled to (the
// browser does that); a scenario restarts the page on it.
function hashChanged(hash) {
  if (isAnchor(hash)) return false;
  if (hash === currentLink().hash) return false;
  restart(hash);
  return true;
}

// A new link: a fresh main panel, and the page's own state as on opening.
function restart(hash) {
  while (panels.length > 1) removePanel(panels[panels.length - 1]);
  X.pg_drop(panels[0].id);
  panels[0].el.remove();
  panels.length = 0;
  settings = defaults();
  clearErrors();
  const e = $('explain');
  e.innerHTML = intro;
  e.classList.remove('failed');
  quiz.queue = [];
  quiz.pending = null;
  quiz.right = 0;
  quiz.asked = 0;
  $('quiz').hidden = true;
  $('quiz-result').textContent = '';
  $('quiz-score').textContent = '';
  $('link-note').textContent = '';
  traceLoaded = false;
  pendingConfig = false;
  addPanel(settings.policy, settings.coalescing, false);
  return start(hash);
}
// Opens `hash` on the panels there are: settings, ops, panels, then the
// link's quiz.
function start(hash) {
  const r = openLink(isAnchor(hash) ? '' : hash);
  showProblems(r.problems);
  render();
  askNext();
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
  await reviewChecks(check, said);
  restart(location.hash);
  check(line() === before, 'the link replays to the same state again');
  clearErrors();
  check(pageErrors.length === 0, 'no page error');
  const verdict = fails.length === 0 && pageErrors.length === 0 ? 'selftest: PASS' : 'selftest: FAIL — ' + fails.concat(pageErrors).join('; ');
  $('selftest-verdict').textContent = `${verdict} (${panels.length} panel(s), operation ${panels[0].view.pos} of ${panels[0].view.len})`;
  selftesting = false;
}

// The learner review's defects, each driven through the page's controls.
async function reviewChecks(check, said) {
  const view = () => panels[0].view;
  const urlError = () => ($('url-error').hidden ? '' : $('url-error').textContent);
  const submit = (field, value, form) => { $(field).value = value; $(form).requestSubmit(); };
  // #help is a place in the page, not a scenario: nothing restarts.
  restart('#capacity=400&descriptors=8&ops=alloc+100;alloc+50');
  let line0 = view().stats_line;
  check(isAnchor('#help') && !hashChanged('#help') && view().stats_line === line0 && view().pos === 2 && urlError() === '', '#help only scrolls: the work stays');
  // A new link resets the page: no old score, the link's quiz is asked.
  quiz.right = 3; quiz.asked = 5; $('quiz-score').textContent = 'score 3/5';
  restart('#capacity=400&descriptors=8&ops=alloc+100&quiz=alloc+50');
  check($('quiz-score').textContent === '' && quiz.asked === 0 && !$('quiz').hidden && $('quiz-question').textContent.includes('alloc 50'), 'a new link resets the score and asks its quiz');
  // A quiz asks only what the core would run: bad input is refused at once.
  submit('alloc-size', '-5', 'alloc-form');
  check($('alloc-error').textContent.includes('not a size') && $('quiz-question').textContent.includes('alloc 50'), 'quiz mode refuses alloc -5 before asking');
  restart('#capacity=400&descriptors=8&ops=alloc+100&quiz=free+0;allco+5;alloc+0;alloc+60');
  check(['“free 0”', '“allco 5”', '“alloc 0”'].every((q) => urlError().includes(q)) && $('quiz-question').textContent.includes('alloc 60'), 'a link’s quiz asks only allocations that would run');
  $('quiz-mode').checked = false;
  $('quiz-mode').dispatchEvent(new Event('change'));
  // A policy change in the middle of a trace keeps the trace and the cursor.
  restart('#capacity=4K&descriptors=64');
  await loadTraceFile('t.trace', enc.encode('a 1 64\na 2 100\nf 1\na 3 32\nf 2\na 4 500\nf 3\nf 4\n').buffer);
  goto(4);
  $('set-policy').value = 'segregated-fit';
  $('set-policy').dispatchEvent(new Event('change'));
  $('settings').requestSubmit();
  check(view().pos === 5 && view().len === 9 && view().policy === 'segregated-fit' && said().startsWith('now segregated-fit'), 'a policy change mid-trace keeps every event');
  goto(9);
  check(view().len === 9 && view().policy === 'segregated-fit', 'the slider keeps the policy change');
  // `;` in a field is refused; a partial script is drawn and the panels
  // stay in step.
  restart('#capacity=400&descriptors=8&ops=alloc+100&compare=best-fit/deferred');
  line0 = view().stats_line;
  submit('alloc-size', '100;allco', 'alloc-form');
  check($('alloc-error').textContent.length > 0 && view().pos === 1 && panels[1].view.pos === 1, 'a “;” in the size field is refused');
  submit('free-number', '0;defrag', 'free-form');
  check($('free-error').textContent.length > 0 && view().pos === 1, 'a “;” in the free field is refused');
  submit('pass-moves', '1;defrag', 'pass-form');
  check($('pass-error').textContent.length > 0 && view().pos === 1, 'a “;” in the pass field is refused');
  run('alloc 10;allco', 'cmd');
  check($('cmd-error').textContent.includes('allco') && view().pos === 2 && panels[1].view.pos === 2 && $('stats-line-0').textContent === view().stats_line && view().stats_line !== line0, 'a partial script is drawn, panels in step');
  $('btn-undo').click();
  check(view().pos === 1 && panels[1].view.pos === 1 && view().stats_line === line0, 'undo after a partial script keeps panels in step');
  // `#N` names an allocation, in a field and in a link.
  restart('#capacity=400&descriptors=8&ops=alloc+100;alloc+100;free+%231');
  check(urlError() === '' && view().stats.used_arenas === 1, 'free+%231 in a link frees #1');
  submit('free-number', '#0', 'free-form');
  check($('free-error').textContent === '' && view().stats.used_arenas === 0, 'free #0 in the field frees #0');
  // The link replays exactly after handles are toggled.
  restart('#capacity=1000&descriptors=32&handles=1&ops=alloc+100;alloc+100;alloc+100;free+0;pass+1');
  $('set-handles').checked = false;
  $('settings').requestSubmit();
  line0 = view().stats_line;
  let link = currentLink();
  restart(link.hash);
  check(urlError() === '' && view().stats_line === line0 && link.leftOut === 1, 'handles off: the link replays (the pass left out)');
  restart('#capacity=1000&descriptors=32&ops=alloc+100');
  submit('cmd', 'policy best-fit', 'cmd-form');
  $('set-handles').checked = true;
  $('settings').requestSubmit();
  line0 = view().stats_line;
  link = currentLink();
  restart(link.hash);
  check(urlError() === '' && view().stats_line === line0 && view().handles && view().policy === 'best-fit', 'handles on after a policy change: the link replays');
  // The largest free arena: the stats say when it is cached.
  restart('#capacity=4K&policy=segregated-fit&coalescing=immediate&ops=alloc+256;alloc+16;alloc+3604;free+0');
  check(panels[0].el.querySelector('dl.stats').textContent.includes('256 B (cached; the largest not cached, 220 B, is outlined)'), 'the stats say the largest free arena is cached');
  // The arena table: spare rows end at the last row shown.
  restart('#capacity=4K&descriptors=128&coalescing=immediate&ops=' + Array(72).fill('alloc+1').join(';') + ';free+62;free+63');
  const table = panels[0].el.querySelector('details.arena-table').textContent;
  check(table.includes('spare ×1 (slot 63)') && !/spare ×\d+ \(slots \d+–127\)/.test(table) && table.includes('64 more descriptors not shown (slots 64–127)'), 'the table says how many descriptors are not shown');
  // The arena table stays open.
  panels[0].el.querySelector('details.arena-table').open = true;
  $('btn-defrag').click();
  check(panels[0].el.querySelector('details.arena-table').open, 'the arena table stays open after an operation');
  // A bad link value is reported and ignored; the good ones are kept.
  restart('#capacity=400&descriptors=8&policy=Best-Fit&handles=maybe&ops=alloc+100&compare=best-fit,worst-fit,next-fit,first-fit');
  check(view().capacity === 400 && view().descriptors === 8 && urlError().includes('policy “Best-Fit”') && urlError().includes('handles “maybe”') && urlError().includes('“first-fit” ignored') && panels.length === 4, 'each link value on its own');
  restart('#capacity=400&descriptors=8&handles=true&ops=alloc+100');
  check(view().handles && urlError() === '', 'handles=true is on');
  restart('#capacity=400&descriptors=8&ops=alloc+100;alloc+50&at=1');
  check(view().pos === 1 && !said().includes('alloc(50)'), 'at=1 does not explain an operation not applied');
  // Settings fields are single values.
  restart('#capacity=400&descriptors=8');
  submit('set-capacity', '400 pinned=1', 'settings');
  check($('settings-error').textContent.includes('one size') && !view().pinned, 'a region size of two words is refused');
  submit('set-capacity', '1 K', 'settings');
  check($('settings-error').textContent === '' && view().capacity === 1024, 'a region size of “1 K” is 1 KiB');
  // A policy picked but not applied stays picked.
  $('set-policy').value = 'worst-fit';
  $('set-policy').dispatchEvent(new Event('change'));
  $('btn-defrag').click();
  check($('set-policy').value === 'worst-fit' && $('settings-note').textContent.includes('not applied') && view().policy === 'first-fit', 'a picked policy waits for Apply');
  restart('#capacity=400&descriptors=8');
  check($('set-policy').value === 'first-fit' && $('settings-note').textContent === '', 'a new link drops the pick');
  // The same trace file picked again after an error loads again.
  const dt = new DataTransfer();
  dt.items.add(new File(['hello world\n'], 'bad.trace'));
  $('trace-file').files = dt.files;
  $('trace-file').dispatchEvent(new Event('change'));
  await traceLoading;
  check($('trace-file').value === '' && $('trace-error').textContent.length > 0, 'the trace picker is cleared after a load');
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
  intro = $('explain').innerHTML;
  const r = start(location.hash);
  if (r.selftest) await selftest();
  if (r.bench) await bench(Number(r.bench) || 100000);
}
function addPanelBoot() {
  addPanel(settings.policy, settings.coalescing, false);
  return panels[0].id;
}

boot();
