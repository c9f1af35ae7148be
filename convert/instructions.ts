/**
 * The instruction texts of IEPile, one per task and language, verbatim. SPO uses the RE texts.
 *
 * @module
 */

import type { Task } from "../io/tasks.ts";

export type { Task };

/** The instruction languages. */
export type Language = "zh" | "en";

/** All tasks, in the order the reference lists them. */
export const TASKS: readonly Task[] = ["RE", "NER", "EE", "EET", "EEA", "SPO", "KG"];

/** All languages. */
export const LANGUAGES: readonly Language[] = ["zh", "en"];

/**
 * The instruction text for a task and language.
 *
 * @param task the task
 * @param language `zh` or `en`
 * @returns the text placed under the `instruction` key
 *
 * @example
 * ```ts
 * import { instructionText } from "./instructions.ts";
 * if (!instructionText("NER", "en").startsWith("You are an expert in named entity recognition.")) throw new Error();
 * ```
 */
export function instructionText(task: Task, language: Language): string {
  return INSTRUCTIONS[task][language];
}

const INSTRUCTIONS: Record<Task, Record<Language, string>> = {
  NER: {
    zh:
      "你是专门进行实体抽取的专家。请从input中抽取出符合schema定义的实体，不存在的实体类型返回空列表。请按照JSON字符串的格式回答。",
    en:
      "You are an expert in named entity recognition. Please extract entities that match the schema definition from the input. Return an empty list if the entity type does not exist. Please respond in the format of a JSON string.",
  },
  RE: {
    zh:
      "你是专门进行关系抽取的专家。请从input中抽取出符合schema定义的关系三元组，不存在的关系返回空列表。请按照JSON字符串的格式回答。",
    en:
      "You are an expert in relationship extraction. Please extract relationship triples that match the schema definition from the input. Return an empty list for relationships that do not exist. Please respond in the format of a JSON string.",
  },
  SPO: {
    zh:
      "你是专门进行关系抽取的专家。请从input中抽取出符合schema定义的关系三元组，不存在的关系返回空列表。请按照JSON字符串的格式回答。",
    en:
      "You are an expert in relationship extraction. Please extract relationship triples that match the schema definition from the input. Return an empty list for relationships that do not exist. Please respond in the format of a JSON string.",
  },
  EE: {
    zh:
      "你是专门进行事件提取的专家。请从input中抽取出符合schema定义的事件，不存在的事件返回空列表，不存在的论元返回NAN，如果论元存在多值请返回列表。请按照JSON字符串的格式回答。",
    en:
      "You are an expert in event extraction. Please extract events from the input that conform to the schema definition. Return an empty list for events that do not exist, and return NAN for arguments that do not exist. If an argument has multiple values, please return a list. Respond in the format of a JSON string.",
  },
  EET: {
    zh:
      "你是专门进行事件提取的专家。请从input中抽取出符合schema定义的事件类型及事件触发词，不存在的事件返回空列表。请按照JSON字符串的格式回答。",
    en:
      "You are an expert in event extraction. Please extract event types and event trigger words from the input that conform to the schema definition. Return an empty list for non-existent events. Please respond in the format of a JSON string.",
  },
  EEA: {
    zh:
      "你是专门进行事件论元提取的专家。请从input中抽取出符合schema定义的事件论元及论元角色，不存在的论元返回NAN或空字典，如果论元存在多值请返回列表。请按照JSON字符串的格式回答。",
    en:
      "You are an expert in event argument extraction. Please extract event arguments and their roles from the input that conform to the schema definition, which already includes event trigger words. If an argument does not exist, return NAN or an empty dictionary. Please respond in the format of a JSON string.",
  },
  KG: {
    zh:
      "你是一个图谱实体知识结构化专家。根据输入实体类型(entity type)的schema描述，从文本中抽取出相应的实体实例和其属性信息，不存在的属性不输出, 属性存在多值就返回列表，并输出为可解析的json格式。",
    en:
      "You are an expert in structured knowledge systems for graph entities. Based on the schema description of the input entity type, you extract the corresponding entity instances and their attribute information from the text. Attributes that do not exist should not be output. If an attribute has multiple values, a list should be returned. The results should be output in a parsable JSON format.",
  },
};
