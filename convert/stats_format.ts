/**
 * The `stats` summary as the report people read: one heading naming the kind of file, the
 * shared tables, then what that kind adds (training balance, gold annotations, answers).
 *
 * @module
 */

import type { InstructionStats } from "./stats.ts";

const KIND_WORDS = {
  training: "training instructions (`output` holds the target)",
  test: "test instructions (no answers yet)",
  predictions: "predictions (test instructions with the model's answer)",
} as const;

/**
 * The summary as a readable report.
 *
 * @param stats the summary
 * @param name the file name shown in the heading
 * @returns multi-line text
 *
 * @example
 * ```ts
 * import { emptyStats, formatStats } from "./stats.ts";
 * if (!formatStats(emptyStats(), "x.json").startsWith("x.json: 0 instructions")) throw new Error();
 * ```
 */
export function formatStats(stats: InstructionStats, name: string): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const pct = (x: number, of: number) => (of === 0 ? "0.0" : (100 * x / of).toFixed(1)) + "%";
  const table = (m: Record<string, number>) =>
    Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${n(v)} (${pct(v, stats.instructions)})`).join(
      ", ",
    ) || "-";
  const mean = (c: { total: number }, of: number) => n(Math.round(c.total / Math.max(of, 1)));
  const sizes = Object.entries(stats.batchSizes).sort((a, b) => Number(a[0]) - Number(b[0]));
  const meanSize = sizes.reduce((s, [k, v]) => s + Number(k) * v, 0) / Math.max(stats.instructions, 1);
  const kind = stats.kind === null ? "" : `: ${KIND_WORDS[stats.kind]}`;
  const lines = [
    `${name}: ${n(stats.instructions)} instructions from ${n(stats.records)} records${kind}`,
    `  tasks:      ${table(stats.byTask)}`,
    `  sources:    ${table(stats.bySource)}`,
    `  languages:  ${table(stats.byLanguage)}`,
    `  schema items per instruction: ${sizes.map(([k, v]) => `${k}×${n(v)}`).join(", ") || "-"} (mean ${
      meanSize.toFixed(2)
    })`,
  ];
  const instructionChars = `instruction mean ${mean(stats.instructionChars, stats.instructions)}, max ${
    n(stats.instructionChars.max)
  }`;
  if (stats.splits.train > 0) {
    const pos = stats.positiveItems, neg = stats.negativeItems;
    const balance = pos === 0
      ? `0 : ${n(neg)} (no positive item`
      : `1 : ${(neg / pos).toFixed(2)} (${n(pos)} : ${n(neg)}`;
    lines.push(
      `  positive : negative schema items = ${balance}; IEPile suggests 1:2 to 1:3)`,
      `  all-negative instructions: ${n(stats.allNegative)} (${
        pct(stats.allNegative, stats.splits.train)
      } of training)`,
      `  characters: ${instructionChars}; output mean ${mean(stats.outputChars, stats.splits.train)}, max ${
        n(stats.outputChars.max)
      }`,
    );
    return lines.join("\n");
  }
  const gold = stats.gold;
  if (gold !== null) {
    lines.push(
      gold.records === 0
        ? "  gold:       none (no `label`: these records cannot be scored)"
        : `  gold:       ${n(gold.annotations)} annotations in ${n(gold.records)} records (${n(gold.empty)} with none)${
          gold.records < stats.records ? `; ${n(stats.records - gold.records)} records without \`label\`` : ""
        }`,
    );
  }
  const a = stats.answers;
  if (a !== null) {
    const of = stats.instructions;
    lines.push(
      `  answers:    ${n(a.answered)} (${pct(a.answered, of)}); failed at inference (\`error\` field): ${
        n(a.failed)
      } (${pct(a.failed, of)})` +
        (a.firstError ? `, first at line ${a.firstError.line}: ${oneLine(a.firstError.message)}` : ""),
      `  JSON objects: ${n(a.objects)} (${pct(a.objects, of)}); ${n(a.withContent)} name something, ${
        n(a.offSchema)
      } use keys outside the asked schema`,
      `  unreadable: ${n(a.invalidJson)} not valid JSON, ${n(a.notObject)} JSON but not an object, ${
        n(a.empty)
      } empty (eval counts these and the failed lines as errors)`,
      `  characters: ${instructionChars}; answer mean ${mean(a.chars, a.answered)}, max ${n(a.chars.max)}`,
    );
    const tasks = Object.keys(stats.byTask);
    if (gold !== null && gold.records > 0) {
      lines.push(
        `  score with: iepile eval ${name}${tasks.length === 1 && tasks[0] !== "?" ? ` --task ${tasks[0]}` : ""}`,
      );
    }
    return lines.join("\n");
  }
  if (stats.instructions > 0) lines.push(`  characters: ${instructionChars}`);
  return lines.join("\n");
}

/** A message on one line, at most 120 characters. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 120 ? flat.slice(0, 119) + "…" : flat;
}
