/**
 * A readable account of one prompt: its text, then every token with its position, id, the text
 * it stands for and the template element it comes from, so template and tokenizer mismatches
 * can be seen.
 *
 * @module
 */

import type { Prompt, PromptPiece } from "./render.ts";
import type { PromptTokenizer } from "./tokenizer.ts";

/**
 * Describe a prompt with its token boundaries.
 *
 * @param prompt a rendered prompt (with ids for the token table)
 * @param tokenizer the tokenizer it was rendered with (for token texts)
 * @returns several lines of text, ending with a newline
 *
 * @example
 * ```ts
 * import { explainPrompt } from "./explain.ts";
 * import { renderPrompt } from "./render.ts";
 * const text = explainPrompt(renderPrompt("alpaca", "Hi"));
 * if (!text.includes('prompt[0]  "### Instruction:\\nHi\\n\\n### Response:\\n"')) throw new Error(text);
 * ```
 */
export function explainPrompt(prompt: Prompt, tokenizer?: PromptTokenizer): string {
  const lines: string[] = [];
  const count = prompt.ids ? `${prompt.ids.length} tokens` : "text only (no tokenizer)";
  const bos = prompt.pieces[0]?.part === "bos" ? `BOS ${JSON.stringify(prompt.pieces[0].text)}` : "no BOS";
  const stop = prompt.stop.map((s, i) => {
    const id = tokenizer?.tokenToId(s);
    return JSON.stringify(s) + (id === undefined ? (i === 0 && tokenizer ? " (not one token)" : "") : ` (id ${id})`);
  });
  lines.push(`template ${prompt.template} · ${count} · ${bos} · stop: ${stop.join(", ") || "none"}`);
  lines.push("", "text:", prompt.text, "");
  if (!prompt.ids || !tokenizer) {
    lines.push("pieces:");
    for (const p of prompt.pieces) lines.push(`  ${label(p)}  ${JSON.stringify(p.text)}`);
    return lines.join("\n") + "\n";
  }
  lines.push("tokens (position, id, text, element):");
  const width = String(Math.max(0, ...prompt.ids)).length;
  const posWidth = String(prompt.ids.length).length;
  let pos = 0;
  for (const p of prompt.pieces) {
    const ids = p.ids ?? [];
    if (ids.length === 0) {
      lines.push(`  ${" ".repeat(posWidth)}  ${" ".repeat(width)}  (nothing)  ${where(p)}`);
      continue;
    }
    ids.forEach((id, i) => {
      const text = tokenizer.tokenText ? tokenizer.tokenText(id) : (tokenizer.idToToken(id) ?? "");
      const element = i === 0 ? `  ${where(p)}` : "";
      lines.push(
        `  ${String(pos).padStart(posWidth)}  ${String(id).padStart(width)}  ${JSON.stringify(text)}${element}`,
      );
      pos++;
    });
  }
  return lines.join("\n") + "\n";
}

function where(p: PromptPiece): string {
  const s = shown(p);
  return s === "" ? label(p) : `${label(p)} ${s}`;
}

function label(p: PromptPiece): string {
  return p.part === "bos" || p.part === "chat" ? p.part : `${p.part}[${p.index}]`;
}

function shown(p: PromptPiece): string {
  if (p.part === "bos") return "";
  if (p.part === "chat") return "(chat_template)";
  if (p.element === undefined || typeof p.element === "string") return JSON.stringify(p.element ?? p.text);
  return `{"token": ${JSON.stringify(p.element.token)}}`;
}
