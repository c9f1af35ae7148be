/**
 * The Python-compatibility layer against CPython 3.11 itself (and numpy's legacy generator):
 * string hashes, set iteration order after mixed operations, `random.sample`/`shuffle` streams,
 * `binomial(1, p)` draws. Uses `python3` as the oracle when it is 3.11 (skips visibly otherwise);
 * values recorded from Python are checked always.
 */

import { deepEqual, equal } from "node:assert/strict";
import { MT19937, NumpyLegacyRandom, PyRandom, PySet, PyStrHasher } from "../convert/pycompat/mod.ts";
import { skipNotice } from "./_shared.ts";

async function python(code: string, input: string, env: Record<string, string> = {}): Promise<string | null> {
  try {
    const p = new Deno.Command("python3", {
      args: ["-c", code],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { PYTHONIOENCODING: "utf-8", ...env },
    }).spawn();
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
    const out = await p.output();
    return out.code === 0 ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

const PY311 = (await python("import sys; print(sys.version_info[:2] == (3, 11))", ""))?.trim() === "True";
const NUMPY = PY311 && (await python("import numpy", "")) !== null;
if (!PY311) skipNotice(import.meta.url, "CPython oracle tests", "python3 3.11 not found");
if (PY311 && !NUMPY) skipNotice(import.meta.url, "numpy oracle test", "numpy not importable");

/** A deterministic generator of test strings of every storage width CPython uses. */
function strings(n: number): string[] {
  let x = 7;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
  const alphabets = ["abcxyz_ 0123", "Äßéÿ\u0080\u00ff", "人物地理位置组织机构", "😀𝄞\u{10ffff}", "\u0000\t\n\u2028"];
  const out = ["", "a", "ab", "abcdefgh", "abcdefghi", "人", "😀"];
  while (out.length < n) {
    const len = Math.floor(next() * 20);
    let s = "";
    for (let i = 0; i < len; i++) {
      const a = alphabets[Math.floor(next() * (next() < 0.6 ? 1 : alphabets.length))];
      const chars = [...a];
      s += chars[Math.floor(next() * chars.length)];
    }
    out.push(s);
  }
  return out;
}

Deno.test("hashes recorded from CPython 3.11", () => {
  // PYTHONHASHSEED=0/1/2 python3.11 -c 'print(hash("a"), hash("人物"), hash("😀x"), hash("abcdefghij"))'
  const want: Record<number, bigint[]> = {
    0: [4644417185603328019n, 4101200709554557649n, -8926728262118538918n, -829746140550000655n],
    1: [-3012895188637184397n, -7009638596743298393n, 8904275969526274476n, -5359825416827196841n],
    2: [6352457989142756797n, 1607968130365970408n, -8505209027140499477n, -6107277204997669538n],
  };
  for (const [seed, values] of Object.entries(want)) {
    const h = new PyStrHasher(Number(seed));
    deepEqual(["a", "人物", "😀x", "abcdefghij"].map((s) => h.hashSigned(s)), values);
  }
  equal(new PyStrHasher(5).hashSigned(""), 0n);
});

Deno.test("MT19937, Python random and numpy draws recorded from the originals", () => {
  equal(MT19937.fromSeed(5489).nextUint32(), 3499211612); // the MT19937 reference output
  const r = new PyRandom(42);
  // python3 -c 'import random; random.seed(42); print(random.sample(range(10), 3)); x=list(range(8)); random.shuffle(x); print(x)'
  deepEqual(r.sample([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3), [1, 0, 4]);
  const x = [0, 1, 2, 3, 4, 5, 6, 7];
  r.shuffle(x);
  deepEqual(x, [7, 5, 2, 4, 0, 6, 1, 3]);
  // python3 -c 'import numpy as np; np.random.seed(42); print(np.random.binomial(1, 0.5, 10), np.random.random())'
  const np = new NumpyLegacyRandom(42);
  deepEqual(Array.from({ length: 10 }, () => np.bernoulli(0.5)), [0, 1, 1, 1, 0, 0, 0, 1, 1, 1]);
  equal(np.nextDouble(), 0.020584494295802447);
});

Deno.test({
  name: "string hashes equal CPython's for 2000 strings and 3 seeds",
  ignore: !PY311,
  fn: async () => {
    const xs = strings(2000);
    for (const seed of [0, 1, 4294967295]) {
      const out = await python(
        "import sys, json\nfor s in json.load(sys.stdin): print(hash(s))",
        JSON.stringify(xs),
        { PYTHONHASHSEED: String(seed) },
      );
      const h = new PyStrHasher(seed);
      deepEqual(xs.map((s) => String(h.hashSigned(s))), out!.trim().split("\n"), `seed ${seed}`);
    }
  },
});

Deno.test({
  name: "set iteration order equals CPython's after random add/update/copy/difference programs",
  ignore: !PY311,
  fn: async () => {
    // A program of set operations run both here and in CPython; every intermediate order is compared.
    let x = 99;
    const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
    const pool = strings(300);
    const pick = (k: number) => Array.from({ length: k }, () => pool[Math.floor(next() * pool.length)]);
    const ops: Array<[string, number, number, string[]]> = [];
    for (let i = 0; i < 600; i++) {
      const kind = ["new", "add", "updlist", "updset", "copy", "diff"][Math.floor(next() * 6)];
      ops.push([kind, Math.floor(next() * 4), Math.floor(next() * 4), pick(Math.floor(next() * 40))]);
    }
    const program = `
import sys, json
ops = json.load(sys.stdin)
sets = [set(), set(), set(), set()]
for kind, a, b, items in ops:
    if kind == "new": sets[a] = set(items)
    elif kind == "add":
        for s in items: sets[a].add(s)
    elif kind == "updlist": sets[a].update(items)
    elif kind == "updset": sets[a].update(sets[b])
    elif kind == "copy": sets[a] = sets[b].copy()
    elif kind == "diff": sets[a] = sets[a] - sets[b]
    print(json.dumps(list(sets[a])))
`;
    for (const seed of [0, 1]) {
      const out = (await python(program, JSON.stringify(ops), { PYTHONHASHSEED: String(seed) }))!.trim().split("\n");
      const h = new PyStrHasher(seed);
      const sets = [0, 1, 2, 3].map(() => new PySet(h));
      ops.forEach(([kind, a, b, items], i) => {
        if (kind === "new") sets[a] = PySet.from(h, items);
        else if (kind === "add") { for (const s of items) sets[a].add(s); }
        else if (kind === "updlist") sets[a].update(items);
        else if (kind === "updset") sets[a].update(sets[b]);
        else if (kind === "copy") sets[a] = sets[b].copy();
        else sets[a] = sets[a].difference(sets[b]);
        deepEqual(sets[a].toArray(), JSON.parse(out[i]), `seed ${seed}, op ${i} (${kind})`);
      });
    }
  },
});

Deno.test({
  name: "random.sample and random.shuffle streams equal CPython's (both sample algorithms)",
  ignore: !PY311,
  fn: async () => {
    const calls: Array<[string, number, number]> = [];
    let x = 5;
    const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
    for (let i = 0; i < 3000; i++) {
      const n = Math.floor(next() * (next() < 0.2 ? 200 : 30));
      calls.push([next() < 0.5 ? "sample" : "shuffle", n, Math.floor(next() * (n + 1))]);
    }
    const out = await python(
      `
import sys, json, random
random.seed(42)
for kind, n, k in json.load(sys.stdin):
    xs = list(range(n))
    if kind == "sample": print(json.dumps(random.sample(xs, k)))
    else:
        random.shuffle(xs); print(json.dumps(xs))
`,
      JSON.stringify(calls),
    );
    const lines = out!.trim().split("\n");
    const r = new PyRandom(42);
    calls.forEach(([kind, n, k], i) => {
      const xs = Array.from({ length: n }, (_, j) => j);
      const got = kind === "sample" ? r.sample(xs, k) : (r.shuffle(xs), xs);
      deepEqual(got, JSON.parse(lines[i]), `call ${i}: ${kind}(${n}, ${k})`);
    });
  },
});

Deno.test({
  name: "numpy legacy binomial(1, p, size) draws equal numpy's, stream position included",
  ignore: !NUMPY,
  fn: async () => {
    const calls: Array<[number, number]> = [];
    let x = 11;
    const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
    for (let i = 0; i < 2000; i++) {
      const p = [0, 1, 0.5, 0.25][Math.floor(next() * 4)] ?? 0;
      calls.push([next() < 0.3 ? p : Math.round(next() * 1000) / 1000, Math.floor(next() * 12)]);
    }
    const out = await python(
      `
import sys, json
import numpy as np
np.random.seed(42)
for p, size in json.load(sys.stdin): print(int(np.random.binomial(1, p, size).sum()))
print(np.random.random())
`,
      JSON.stringify(calls),
    );
    const lines = out!.trim().split("\n");
    const np = new NumpyLegacyRandom(42);
    calls.forEach(([p, size], i) => equal(String(np.binomialSum(p, size)), lines[i], `call ${i}: p=${p} size=${size}`));
    equal(String(np.nextDouble()), lines[lines.length - 1]);
  },
});

Deno.test("differenceArray: list(a - b) remembered per b's elements, forgotten when a changes", () => {
  const h = new PyStrHasher(0);
  const xs = strings(60);
  const all = PySet.from(h, xs.slice(0, 40));
  for (let i = 0; i < 40; i += 7) {
    const b = PySet.from(h, xs.slice(i, i + 5));
    const first = all.differenceArray(b);
    deepEqual(first, all.difference(b).toArray());
    first.push("changed by the caller");
    deepEqual(all.differenceArray(PySet.from(h, xs.slice(i, i + 5))), all.difference(b).toArray());
  }
  const b = PySet.from(h, xs.slice(0, 3));
  all.differenceArray(b);
  all.add(xs[50]);
  deepEqual(all.differenceArray(b), all.difference(b).toArray());
  equal(all.differenceArray(b).includes(xs[50]), true);
});

Deno.test({
  name: "differenceArray and EE argument values equal CPython's set order",
  ignore: !PY311,
  fn: async () => {
    const { labelledEvents } = await import("../convert/tasks/event_answers.ts");
    const { createContext } = await import("../convert/context.ts");
    const xs = strings(300).filter((s) => s !== "" && s.isWellFormed());
    const groups = [xs.slice(0, 30), xs.slice(30, 32), xs.slice(40, 41), [xs[50], xs[50], xs[51], xs[50], xs[52]]];
    const out = await python(
      "import sys, json\nfor g in json.load(sys.stdin):\n  s = set()\n  for x in g: s.add(x)\n" +
        "  print(json.dumps(list(s) if len(s) > 1 else list(s)[0], ensure_ascii=False))\n" +
        "  print(json.dumps(list(set(g[:1]) - set(g[1:2])), ensure_ascii=False))",
      JSON.stringify(groups),
      { PYTHONHASHSEED: "0" },
    );
    const lines = out!.trim().split("\n");
    const ctx = createContext(
      {
        task: "EE",
        language: "en",
        split: "train",
        splitNum: 4,
        negSchema: 1,
        randomSort: false,
        clusterMode: false,
        hashSeed: 0,
        source: "x",
      },
      { types: [], roles: [], typeRoles: [] },
    );
    groups.forEach((g, i) => {
      const ev = {
        event_trigger: "t",
        event_type: "e",
        arguments: g.map((argument) => ({ argument, role: "r" })),
        raw: null,
      };
      // `values` holds the value's JSON text escaped as the inside of a JSON string.
      const escaped = JSON.stringify(lines[2 * i]).slice(1, -1);
      const [labelled] = labelledEvents(ctx, [ev]).get("e")!;
      equal(labelled.values[labelled.roles.indexOf("r")], escaped, `group ${i}`);
      const h = ctx.hasher;
      deepEqual(
        PySet.from(h, g.slice(0, 1)).differenceArray(PySet.from(h, g.slice(1, 2))),
        JSON.parse(lines[2 * i + 1]),
      );
    });
  },
});
