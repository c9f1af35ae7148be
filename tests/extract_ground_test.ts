/**
 * Grounding (`extract/ground.ts`) and offset conversion (`extract/offsets.ts`): every expected
 * offset is counted by hand in the comment above it; a seeded property check covers exact matches
 * and code-point round trips on a mixed text (emoji, CRLF, Chinese).
 */

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { Grounder } from "../extract/ground.ts";
import { OffsetConverter } from "../extract/offsets.ts";

Deno.test("Grounder: exact matches, avoided occurrences and windows", async (t) => {
  await t.step("exact", () => {
    // A0 n1 n2 _3 l4 i5 v6 e7 s8 _9 i10 n11 _12 O13 s14 l15 o16 .17
    deepEqual(new Grounder("Ann lives in Oslo.").locate("Oslo"), { start: 13, end: 17, match: "exact" });
  });

  // A0 n1 n2 _3 m4 e5 t6 _7 A8 n9 n10 .11
  const text = "Ann met Ann.";
  const g = new Grounder(text);

  await t.step("the leftmost occurrence without avoid", () => {
    deepEqual(g.locate("Ann"), { start: 0, end: 3, match: "exact" });
  });

  await t.step("the second occurrence when the first is avoided", () => {
    const asked: number[][] = [];
    const avoid = (start: number, end: number): boolean => {
      asked.push([start, end]);
      return start === 0;
    };
    deepEqual(g.locate("Ann", 0, undefined, avoid), { start: 8, end: 11, match: "exact" });
    deepEqual(asked, [[0, 3], [8, 11]]);
  });

  await t.step("every occurrence avoided: the first", () => {
    deepEqual(g.locate("Ann", 0, undefined, () => true), { start: 0, end: 3, match: "exact" });
  });

  await t.step("window restriction: offsets stay those of the whole text", () => {
    deepEqual(g.locate("Ann", 4), { start: 8, end: 11, match: "exact" });
    deepEqual(g.locate("Ann", 0, 10), { start: 0, end: 3, match: "exact" });
    // [1, 10) is "nn met An": no whole "Ann", and 3 characters are too short for fuzzy.
    equal(g.locate("Ann", 1, 10), undefined);
    // [4, 12) is "met Ann.": the normalised match is the second one.
    deepEqual(g.locate("ann", 4), { start: 8, end: 11, match: "normalized" });
  });

  await t.step("a string longer than the window", () => {
    equal(g.locate("Ann met Ann.", 0, 5), undefined);
    equal(g.locate("Ann met Anne", 0, 5), undefined);
  });

  await t.step("empty and whitespace-only strings", () => {
    equal(g.locate(""), undefined);
    equal(g.locate(" \r\n\t\u3000"), undefined);
  });
});

Deno.test("Grounder: normalised matches map back to the original characters", async (t) => {
  // T0 h1 e2 _3 Z4 h5 e6 j7 i8 a9 n10 g11 _12 U13 n14 i15 v16 e17 r18 s19 i20 t21 y22 _23 c24 ...
  const g = new Grounder("The Zhejiang University campus");
  const zju = { start: 4, end: 23, match: "normalized" };

  await t.step("extra spaces, newline, CRLF, tab inside the string", () => {
    deepEqual(g.locate("Zhejiang   University"), zju);
    deepEqual(g.locate("Zhejiang\nUniversity"), zju);
    deepEqual(g.locate("Zhejiang\r\nUniversity"), zju);
    deepEqual(g.locate(" \tZhejiang \u00a0University\n"), zju);
  });

  await t.step("case", () => {
    deepEqual(g.locate("zhejiang UNIVERSITY"), zju);
  });

  await t.step("CRLF and runs of whitespace in the text", () => {
    // Z0 h1 e2 j3 i4 a5 n6 g7 \r8 \n9 U10 ... y19 _20 i21 s22
    const crlf = new Grounder("Zhejiang\r\nUniversity is big");
    deepEqual(crlf.locate("Zhejiang University"), { start: 0, end: 20, match: "normalized" });
    // a0 _1 _2 \t3 b4: the run of three maps back whole.
    deepEqual(new Grounder("a  \tb").locate("a b"), { start: 0, end: 5, match: "normalized" });
  });

  await t.step("full-width letters and digits", () => {
    // 型0 号1 Ａ2 Ｂ3 Ｃ4 １5 ２6 ３7 已8 售9 罄10
    deepEqual(new Grounder("型号ＡＢＣ１２３已售罄").locate("abc123"), { start: 2, end: 8, match: "normalized" });
    // M0 o1 d2 e3 l4 _5 A6 B7 C8 1 9 2 10 3 11 _12 s13 ...
    deepEqual(new Grounder("Model ABC123 sold").locate("ＡＢＣ１２３"), { start: 6, end: 12, match: "normalized" });
  });

  await t.step("full-width space", () => {
    // N0 e1 w2 U+3000 3 Y4 o5 r6 k7
    deepEqual(new Grounder("New\u3000York").locate("New York"), { start: 0, end: 8, match: "normalized" });
    // I0 _1 l2 o3 v4 e5 _6 N7 e8 w9 _10 Y11 o12 r13 k14
    deepEqual(new Grounder("I love New York").locate("New\u3000York"), { start: 7, end: 15, match: "normalized" });
  });

  await t.step("spaces inserted between Chinese characters", () => {
    // 他0 毕1 业2 于3 浙4 江5 大6 学7 。8
    const zh = new Grounder("他毕业于浙江大学。");
    deepEqual(zh.locate("浙 江 大 学"), { start: 4, end: 8, match: "normalized" });
    deepEqual(zh.locate("浙江 大学"), { start: 4, end: 8, match: "normalized" });
    // 北0 京1 _2 大3 学4: the text's space next to Chinese goes too.
    deepEqual(new Grounder("北京 大学").locate("北京大学"), { start: 0, end: 5, match: "normalized" });
  });

  await t.step("NFKC expansions and compositions map back to whole characters", () => {
    // 重0 5 1 ㎏2 左3 右4: "㎏" is "kg" after NFKC.
    deepEqual(new Grounder("重5㎏左右").locate("5kg"), { start: 1, end: 3, match: "normalized" });
    // T0 h1 e2 _3 ﬁ4 n5 a6 n7 c8 e9 _10: the ligature "ﬁ" is "fi".
    deepEqual(new Grounder("The ﬁnance team").locate("Finance"), { start: 4, end: 10, match: "normalized" });
    // C0 a1 f2 e3 U+0301 4 _5 P6 a7 r8 i9 s10: "e" + combining acute is "é".
    deepEqual(new Grounder("Cafe\u0301 Paris").locate("Café Paris"), { start: 0, end: 11, match: "normalized" });
  });

  await t.step("zero-width characters in the text are skipped", () => {
    // O0 s1 U+200B 2 l3 o4
    deepEqual(new Grounder("Os\u200blo").locate("Oslo"), { start: 0, end: 5, match: "normalized" });
  });
});

Deno.test("Grounder: fuzzy matches", async (t) => {
  // P0 r1 e2 s3 i4 d5 e6 n7 t8 _9 B10 a11 r12 a13 c14 k15 _16 O17 b18 a19 m20 a21 _22 s23 ...
  const text = "President Barack Obama spoke.";

  await t.step("a one-letter typo in a longer name", () => {
    // "Barak Obama" vs "Barack Obama": one insertion, similarity 1 - 1/12 = 0.917.
    deepEqual(new Grounder(text).locate("Barak Obama"), { start: 10, end: 22, match: "fuzzy" });
    // "Obamma" vs "Obama": one deletion, similarity 1 - 1/6 = 0.833; never starts on the space.
    deepEqual(new Grounder(text).locate("Obamma"), { start: 17, end: 22, match: "fuzzy" });
  });

  await t.step("a far string is not found", () => {
    equal(new Grounder(text).locate("Donald Trump"), undefined);
    equal(new Grounder(text).locate("Barack Hussein Obama II"), undefined);
  });

  await t.step("threshold 1 disables fuzzy; the threshold is inclusive", () => {
    equal(new Grounder(text, { fuzzyThreshold: 1 }).locate("Barak Obama"), undefined);
    equal(new Grounder(text, { fuzzyThreshold: 0.95 }).locate("Barak Obama"), undefined);
    // "Obame" vs "Obama": one substitution in five, similarity exactly 0.8.
    deepEqual(new Grounder(text, { fuzzyThreshold: 0.8 }).locate("Obame"), { start: 17, end: 22, match: "fuzzy" });
  });

  await t.step("strings shorter than 4 characters are not matched fuzzily", () => {
    // "Obx" vs "Oba" would score 0.67 ≥ 0.5, but 3 characters are not tried.
    equal(new Grounder(text, { fuzzyThreshold: 0.5 }).locate("Obx"), undefined);
  });

  await t.step("an avoided fuzzy match gives the next occurrence, not a shifted copy", () => {
    // B0 ... a11 _12 m13 e14 t15 _16 B17 a18 r19 a20 c21 k22 _23 O24 b25 a26 m27 a28 .29
    const twice = new Grounder("Barack Obama met Barack Obama.");
    deepEqual(twice.locate("Barak Obama", 0, undefined, (s) => s === 0), { start: 17, end: 29, match: "fuzzy" });
    deepEqual(twice.locate("Barak Obama", 0, undefined, () => true), { start: 0, end: 12, match: "fuzzy" });
    deepEqual(twice.locate("Barak Obama", 5), { start: 17, end: 29, match: "fuzzy" });
  });

  await t.step("the threshold is checked", () => {
    throws(() => new Grounder(text, { fuzzyThreshold: 1.5 }), RangeError);
    throws(() => new Grounder(text, { fuzzyThreshold: Number.NaN }), RangeError);
  });
});

Deno.test("emoji and mixed zh/en: UTF-16 offsets, code-point offsets", async (t) => {
  // UTF-16: 😀0-1 😀2-3 _4 A5 n6 n7 _8 m9 e10 t11 _12 北13 京14
  // points: 😀0   😀1   _2 A3 n4 n5 _6 m7 e8  t9  _10 北11 京12
  const text = "😀😀 Ann met 北京";
  const g = new Grounder(text);
  const c = new OffsetConverter(text);

  await t.step("Grounder gives UTF-16 offsets after emoji", () => {
    deepEqual(g.locate("Ann"), { start: 5, end: 8, match: "exact" });
    deepEqual(g.locate("ANN"), { start: 5, end: 8, match: "normalized" });
    deepEqual(g.locate("met 北 京"), { start: 9, end: 15, match: "normalized" });
    deepEqual(g.locate("Anm met"), { start: 5, end: 12, match: "fuzzy" });
  });

  await t.step("OffsetConverter: one less per emoji before", () => {
    equal(c.codePointLength, 13);
    deepEqual([0, 2, 4, 5, 8, 13, 15].map((i) => c.toCodePoint(i)), [0, 1, 2, 3, 6, 11, 13]);
    deepEqual([0, 1, 2, 3, 6, 11, 13].map((i) => c.toUtf16(i)), [0, 2, 4, 5, 8, 13, 15]);
    // Between the halves of a pair: the code point the pair encodes.
    equal(c.toCodePoint(1), 0);
    equal(c.toCodePoint(3), 1);
    throws(() => c.toCodePoint(16), RangeError);
    throws(() => c.toUtf16(14), RangeError);
    throws(() => c.toUtf16(1.5), RangeError);
  });

  await t.step("no astral characters: the identity", () => {
    const plain = new OffsetConverter("他毕业于浙江大学。");
    equal(plain.codePointLength, 9);
    equal(plain.toCodePoint(4), 4);
    equal(plain.toUtf16(9), 9);
  });

  await t.step("mixed zh/en after an emoji", () => {
    // UTF-16: 🎉0-1 庆2 祝3 A4 p5 p6 l7 e8 公9 司10 成11 立12; points one less from 庆 on.
    const mixed = "🎉庆祝Apple公司成立";
    const found = new Grounder(mixed).locate("apple 公司");
    deepEqual(found, { start: 4, end: 11, match: "normalized" });
    const mc = new OffsetConverter(mixed);
    deepEqual([mc.toCodePoint(4), mc.toCodePoint(11)], [3, 10]);
  });

  await t.step("an emoji is never split", () => {
    // a0 😀1-2 b3: half a pair ("\ude00" + "b") is not matched exactly inside the pair; the
    // normalised match widens to the whole emoji.
    deepEqual(new Grounder("a😀b").locate("\ude00b"), { start: 1, end: 4, match: "normalized" });
    // A window edge inside the pair leaves the pair out: [2, 4) is "b" only.
    equal(new Grounder("a😀b").locate("😀", 2), undefined);
    deepEqual(new Grounder("a😀b").locate("b", 2), { start: 3, end: 4, match: "exact" });
  });
});

/** A small linear congruential generator (Numerical Recipes constants), seeded. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

Deno.test("property: random substrings are found exactly; offsets round-trip", () => {
  const text =
    "😀 Ann met 北京大学的 Bob.\r\n他说：“你好🎉！”\tThe 𠮷野家 menu costs ¥5.\r\n😀 Ann again, 北京 again 🇨🇳.";
  const points = Array.from(text);
  // Where each code point starts in UTF-16, counted from the characters' own lengths.
  const unitAt = [0];
  for (const p of points) unitAt.push(unitAt[unitAt.length - 1] + p.length);
  equal(unitAt[points.length], text.length);

  const c = new OffsetConverter(text);
  equal(c.codePointLength, points.length);
  for (let k = 0; k <= points.length; k++) {
    equal(c.toUtf16(k), unitAt[k]);
    equal(c.toCodePoint(unitAt[k]), k);
  }

  const g = new Grounder(text);
  const random = lcg(20240611);
  let tried = 0;
  for (let n = 0; n < 200; n++) {
    const a = Math.floor(random() * points.length);
    const b = a + 1 + Math.floor(random() * Math.min(12, points.length - a));
    const s = points.slice(a, b).join("");
    if (s.trim() === "") continue;
    tried++;
    const found = g.locate(s);
    ok(found !== undefined, s);
    equal(found.match, "exact");
    equal(text.slice(found.start, found.end), s);
    ok(found.start <= unitAt[a], s);
    // The match starts on a code-point boundary.
    equal(unitAt[c.toCodePoint(found.start)], found.start);
  }
  ok(tried > 150, `${tried}`);
});

Deno.test("grounding prefers an occurrence that stands as a whole word", () => {
  // "Annual report by Ann." — "Ann" at 0 is inside "Annual"; the word is at 17–20.
  const g = new Grounder("Annual report by Ann.");
  const exact = g.locate("Ann");
  equal(exact?.start, 17);
  equal(exact?.end, 20);
  // Normalised matches too: "ANN" is found at 17, not in "Annual".
  equal(g.locate("ANN")?.start, 17);
  // No whole-word occurrence: the first one.
  equal(new Grounder("Annual Annex").locate("Ann")?.start, 0);
  // Chinese has no word edges: 北京 inside 北京大学 is taken as it comes (0), not skipped for a later one.
  equal(new Grounder("北京大学在北京").locate("北京")?.start, 0);
});
