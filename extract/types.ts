/**
 * What `extract` finds in a document: entities, relations, events and knowledge-graph entities,
 * each string with where it is in the text. These are the records of the `extract` output file
 * (one line per document) and what the HTML report shows.
 *
 * Offsets are UTF-16 code unit indices (JavaScript's `text.slice(start, end)`) inside the library;
 * the command line writes code-point indices by default (Python's `text[start:end]`), see
 * `offsets.ts`.
 *
 * @module
 */

/** How a string was found in the document. */
export type MatchKind = "exact" | "normalized" | "fuzzy";

/** A string the model wrote, located in the document (or not). */
export interface Span {
  /** The string as the model wrote it. */
  text: string;
  /** Where it starts in the document (inclusive); `null` when it was not found. */
  start: number | null;
  /** Where it ends in the document (exclusive); `null` when it was not found. */
  end: number | null;
  /** Whether the string was found in the document (false: likely a hallucination). */
  grounded: boolean;
  /** How it was found: the same characters, after normalisation, or by a fuzzy match. */
  match?: MatchKind;
}

/** An entity (NER) or an event trigger alone (EET). */
export interface EntityExtraction extends Span {
  /** `entity` for NER. */
  kind: "entity";
  /** The entity type. */
  type: string;
}

/** A relation triple (RE, SPO). */
export interface RelationExtraction {
  /** `relation` for RE and SPO. */
  kind: "relation";
  /** The relation (predicate). */
  relation: string;
  /** The subject. */
  head: Span;
  /** The object. */
  tail: Span;
}

/** One argument of an event. */
export interface EventArgument extends Span {
  /** The argument's role. */
  role: string;
}

/** An event (EE: trigger and arguments; EET: trigger only; EEA: arguments only). */
export interface EventExtraction {
  /** `event` for EE, EET and EEA. */
  kind: "event";
  /** The event type. */
  type: string;
  /** The trigger word (absent for EEA). */
  trigger?: Span;
  /** The arguments (empty for EET). */
  arguments: EventArgument[];
}

/** One attribute value of a knowledge-graph entity. */
export interface KgAttribute extends Span {
  /** The attribute name. */
  attribute: string;
}

/** A knowledge-graph entity with its attributes (KG). */
export interface KgExtraction {
  /** `kg` for KG. */
  kind: "kg";
  /** The entity type. */
  type: string;
  /** The entity's name. */
  entity: Span;
  /** Its attribute values. */
  attributes: KgAttribute[];
}

/** Anything extracted. */
export type Extraction = EntityExtraction | RelationExtraction | EventExtraction | KgExtraction;

/** One document's extractions. */
export interface DocumentExtractions {
  /** The document's id. */
  id: string;
  /** The extractions, in document order of their first span. */
  extractions: Extraction[];
}

/**
 * The spans of an extraction, in reading order of its fields (for highlighting and grounding).
 *
 * @param x the extraction
 * @returns its spans with a label each (the type, role or attribute they stand for)
 *
 * @example
 * ```ts
 * import { spansOf } from "./types.ts";
 * const head = { text: "Ann", start: 0, end: 3, grounded: true };
 * const tail = { text: "Oslo", start: 12, end: 16, grounded: true };
 * const spans = spansOf({ kind: "relation", relation: "lives in", head, tail });
 * if (spans.map((s) => s.label).join() !== "lives in (head),lives in (tail)") throw new Error();
 * ```
 */
export function spansOf(x: Extraction): Array<{ label: string; span: Span }> {
  switch (x.kind) {
    case "entity":
      return [{ label: x.type, span: x }];
    case "relation":
      return [{ label: `${x.relation} (head)`, span: x.head }, { label: `${x.relation} (tail)`, span: x.tail }];
    case "event":
      return [
        ...(x.trigger ? [{ label: `${x.type} (trigger)`, span: x.trigger }] : []),
        ...x.arguments.map((a) => ({ label: `${x.type}: ${a.role}`, span: a as Span })),
      ];
    case "kg":
      return [
        { label: x.type, span: x.entity },
        ...x.attributes.map((a) => ({ label: `${x.type}: ${a.attribute}`, span: a as Span })),
      ];
  }
}
