/**
 * The labelled events of a record as EE and EEA targets present them: per event type, each
 * event's trigger and its role → argument value(s).
 *
 * @module
 */

import { pyStrEscaped, pyStrListEscaped } from "../../io/py_json.ts";
import type { SamplingContext } from "../context.ts";
import { PySet } from "../pycompat/mod.ts";
import type { IeEvent } from "../records.ts";
import { memoized } from "./task.ts";

/** One labelled event. */
export interface LabelledEvent {
  /** The trigger; `"NAN"` when the input trigger is empty. */
  trigger: string;
  /** The roles with a value, in first-appearance order (a few: searched, not hashed). */
  roles: string[];
  /**
   * Each role's value as JSON text escaped as the inside of a JSON string (the `output` text is
   * built escaped, see `TrainBatch`): one string, or a list (in Python set order) for several
   * distinct values.
   */
  values: string[];
}

/**
 * Group a record's events by type. Events with neither trigger nor arguments are skipped; empty
 * argument strings are dropped.
 *
 * @param ctx the run context (its hasher gives multi-value order)
 * @param events the record's events
 * @param plain whether the record's strings hold nothing to escape (see `IeRecord.plain`)
 * @returns type → events, in first-appearance order
 *
 * @example
 * ```ts
 * import { createContext } from "../context.ts";
 * import { labelledEvents } from "./event_answers.ts";
 * const ctx = createContext(
 *   { task: "EE", language: "en", split: "train", splitNum: 4, negSchema: 1, randomSort: false, clusterMode: false, hashSeed: 0, source: "x" },
 *   { types: [], roles: [], typeRoles: [] },
 * );
 * const ev = { event_trigger: "", event_type: "attack", arguments: [{ argument: "Rebels", role: "attacker" }], raw: null };
 * const byType = labelledEvents(ctx, [ev]);
 * if (byType.get("attack")?.[0].trigger !== "NAN") throw new Error();
 * ```
 */
export function labelledEvents(
  ctx: SamplingContext,
  events: readonly IeEvent[],
  plain?: boolean,
): Map<string, LabelledEvent[]> {
  const byType = new Map<string, LabelledEvent[]>();
  for (const ev of events) {
    if (ev.event_trigger === "" && ev.arguments.length === 0) continue;
    // A role's values are a Python set; its order only matters (and its hashes are only
    // computed) once a second distinct value comes. Most roles hold one value: its JSON text
    // goes straight into `values` (the same text means the same value).
    const roles: string[] = [];
    const values: string[] = [];
    let several: Map<string, PySet> | undefined;
    for (const { argument, role } of ev.arguments) {
      if (argument === "") continue;
      const at = roles.indexOf(role);
      if (at < 0) {
        roles.push(role);
        values.push(pyStrEscaped(argument, plain));
        continue;
      }
      const set = several?.get(role);
      if (set !== undefined) set.addOnce(argument);
      else if (values[at] !== pyStrEscaped(argument, plain)) {
        several ??= new Map();
        several.set(role, PySet.fromOnce(ctx.hasher, [firstArgument(ev, role), argument]));
      }
    }
    if (several !== undefined) {
      for (const [role, set] of several) values[roles.indexOf(role)] = pyStrListEscaped(set.toArray());
    }
    const entry = { trigger: ev.event_trigger === "" ? "NAN" : ev.event_trigger, roles, values };
    const list = byType.get(ev.event_type);
    if (list === undefined) byType.set(ev.event_type, [entry]);
    else list.push(entry);
  }
  return byType;
}

/** The first non-empty argument of `role` in `ev`. */
function firstArgument(ev: IeEvent, role: string): string {
  for (const a of ev.arguments) if (a.role === role && a.argument !== "") return a.argument;
  throw new Error(`no argument for ${role}`);
}

/** JSON spellings of role names, escaped as `args` values are (a few, repeated on every record). */
const quotedRole = memoized(pyStrEscaped);

/** `"NAN"` (the value of a role the event lacks), escaped as `args` values are. */
const NAN = '\\"NAN\\"';

/**
 * An event's arguments over the asked roles, as JSON text escaped as the inside of a JSON string
 * (as `args` values are): each role's value or `"NAN"`; `{}` when none of the roles is present.
 *
 * @param ev the labelled event
 * @param roles the roles asked for, in order
 * @returns the escaped JSON object text
 *
 * @example
 * ```ts
 * import { argumentObject } from "./event_answers.ts";
 * const ev = { trigger: "t", roles: ["a"], values: ['\\"x\\"'] };
 * if (argumentObject(ev, ["b", "a"]) !== '{\\"b\\": \\"NAN\\", \\"a\\": \\"x\\"}') throw new Error();
 * if (argumentObject(ev, ["b"]) !== "{}") throw new Error();
 * ```
 */
export function argumentObject(ev: LabelledEvent, roles: readonly string[]): string {
  let present = false;
  for (let i = 0; i < roles.length && !present; i++) present = ev.roles.includes(roles[i]);
  if (!present) return "{}";
  // A repeated role keeps its first place (its value is the same).
  let out = "{";
  outer: for (let i = 0; i < roles.length; i++) {
    for (let j = 0; j < i; j++) if (roles[i] === roles[j]) continue outer;
    const at = ev.roles.indexOf(roles[i]);
    out += (i === 0 ? "" : ", ") + quotedRole(roles[i]) + ": " + (at < 0 ? NAN : ev.values[at]);
  }
  return out + "}";
}
