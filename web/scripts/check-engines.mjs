#!/usr/bin/env node
// Checks every package in package-lock.json against the Node.js versions we
// promise to build with (Debian 12's Node 18 and Node 20+). Dependency-free:
// a small semver-range matcher that covers the range forms used in
// "engines" fields (||, space-separated comparators, ^, ~, x-ranges, hyphen).
// Usage: node scripts/check-engines.mjs [version ...]   (default 18.19.0 20.0.0)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const lockPath = fileURLToPath(new URL('../package-lock.json', import.meta.url));
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const targets = process.argv.slice(2).length ? process.argv.slice(2) : ['18.19.0', '20.0.0'];

function parse(v) {
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-[0-9A-Za-z.-]+)?$/.exec(v.trim());
  if (!m) return null;
  const num = (s) => (s === undefined || /[xX*]/.test(s) ? undefined : Number(s));
  return [num(m[1]), num(m[2]), num(m[3])];
}
function cmp(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}
// Lower (inclusive) and upper (exclusive) bounds of a partial version.
function bounds(p) {
  const [M, m, pt] = p;
  if (M === undefined) return [[0, 0, 0], [Infinity, 0, 0]];
  if (m === undefined) return [[M, 0, 0], [M + 1, 0, 0]];
  if (pt === undefined) return [[M, m, 0], [M, m + 1, 0]];
  return [[M, m, pt], [M, m, pt + 1]];
}
function satisfiesComparator(v, c) {
  const m = /^(<=|>=|<|>|=|\^|~)?\s*(.+)$/.exec(c);
  const op = m[1] || '=';
  const p = parse(m[2]);
  if (!p) throw new Error(`cannot parse comparator ${c}`);
  const [lo, hi] = bounds(p);
  const full = p.map((x) => x ?? 0);
  switch (op) {
    case '=': return cmp(v, lo) >= 0 && cmp(v, hi) < 0;
    case '>=': return cmp(v, full) >= 0;
    case '>': return cmp(v, hi) >= 0;
    case '<': return cmp(v, full) < 0;
    case '<=': return cmp(v, hi) < 0;
    case '~': return cmp(v, full) >= 0 && cmp(v, p[1] === undefined ? [full[0] + 1, 0, 0] : [full[0], full[1] + 1, 0]) < 0;
    case '^': {
      const upper = full[0] > 0 || p[1] === undefined ? [full[0] + 1, 0, 0]
        : full[1] > 0 || p[2] === undefined ? [0, full[1] + 1, 0] : [0, 0, full[2] + 1];
      return cmp(v, full) >= 0 && cmp(v, upper) < 0;
    }
  }
  return false;
}
function satisfies(version, range) {
  const v = parse(version);
  return range.split('||').some((alt) => {
    alt = alt.trim();
    if (alt === '' || alt === '*') return true;
    const hy = /^(\S+)\s+-\s+(\S+)$/.exec(alt);
    if (hy) return satisfiesComparator(v, `>=${hy[1]}`) && satisfiesComparator(v, `<=${hy[2]}`);
    return alt.replace(/(<=|>=|<|>|=|\^|~)\s+/g, '$1').split(/\s+/).every((c) => satisfiesComparator(v, c));
  });
}

let failures = 0;
let checked = 0;
let withEngines = 0;
for (const [path, meta] of Object.entries(lock.packages)) {
  if (path === '') continue;
  checked++;
  const range = meta.engines?.node ?? (Array.isArray(meta.engines) ? null : null);
  if (!range) continue;
  withEngines++;
  for (const t of targets) {
    if (!satisfies(t, range)) {
      failures++;
      const opt = meta.optional ? ' (optional)' : '';
      console.log(`FAIL node ${t}: ${path.replace(/^node_modules\//, '')}@${meta.version} wants "${range}"${opt}`);
    }
  }
}
console.log(`${checked} packages in the lock file, ${withEngines} declare engines.node; checked against node ${targets.join(', ')}: ${failures ? failures + ' incompatible' : 'all compatible'}`);
process.exit(failures ? 1 : 0);
