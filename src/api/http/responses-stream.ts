/**
 * The output part of a streamed response, as OpenAI's Responses API streams it: a message's text
 * (`response.output_item.added`, `response.content_part.added`, `response.output_text.delta` per
 * delta, their `.done` events) or, under a tool choice, function calls (each opened by
 * `response.output_item.added` once its name is known, its arguments by
 * `response.function_call_arguments.delta`, then `.done` and `response.output_item.done`).
 * The events around it (created, in_progress, completed) are the route's.
 */
import { ChatAnswerStream } from '../../engine/chat-answer.ts';
import { ToolCallStream } from '../../engine/tool-call-stream.ts';
import type { CandidateDelta, GenerationResult, TokenLogprob } from '../../engine/types.ts';
import { callIds, functionCallItem, messageItem, outputLogprobs, reasoningItem, responseObject, textPart, type ResponseMeta } from './responses-format.ts';

export type Send = (type: string, payload: Record<string, unknown>) => Promise<void>;

/** Streams the one candidate's output; returns the final response object (ids as streamed). */
export async function streamOutput(m: ResponseMeta, events: AsyncIterable<CandidateDelta>, result: Promise<GenerationResult>, send: Send): Promise<Record<string, unknown>> {
  if (m.toolMode?.kind === 'auto' || (m.reasoning && !m.toolMode)) return streamParts(m, events, result, send);
  return m.toolMode ? streamCalls(m, events, result, send) : streamText(m, events, result, send);
}

type MessageOut = { type: string; content: { text: string; logprobs?: TokenLogprob[] }[] };
type ReasoningOut = { type: string; id: string; content: { type: string; text: string }[] };
type CallOut = { type: string; id: string; name: string; arguments: string };

/**
 * Free text read in parts (ChatAnswerStream): with --reasoning-parser its reasoning item first, then
 * the message of its content as it comes, and under `tool_choice: "auto"` the calls it made, each
 * whole (what may be the start of calls or of `</think>` is held back until it is known). The
 * items are the final response's output, in its order.
 */
async function streamParts(m: ResponseMeta, events: AsyncIterable<CandidateDelta>, result: Promise<GenerationResult>, send: Send) {
  const mode = m.toolMode?.kind === 'auto' ? m.toolMode : null;
  const split = new ChatAnswerStream(m.reasoning, mode);
  let index = 0;
  // The reasoning item: opened by its first piece, closed when the content starts or at the end.
  const thought = { text: '', started: false, open: false };
  const think = reasoningItem(m, '', 'in_progress');
  const thinkAt = () => ({ item_id: think.id, output_index: 0, content_index: 0 });
  const closeThought = async () => {
    if (!thought.open) return;
    thought.open = false;
    const part = { type: 'reasoning_text', text: thought.text };
    await send('response.reasoning_text.done', { ...thinkAt(), text: thought.text });
    await send('response.content_part.done', { ...thinkAt(), part });
    await send('response.output_item.done', { output_index: 0, item: reasoningItem(m, thought.text, 'completed') });
    index = 1;
  };
  const reason = async (text: string) => {
    if (!thought.started) {
      thought.started = thought.open = true;
      await send('response.output_item.added', { output_index: 0, item: think });
      await send('response.content_part.added', { ...thinkAt(), part: { type: 'reasoning_text', text: '' } });
    }
    thought.text += text;
    await send('response.reasoning_text.delta', { ...thinkAt(), delta: text });
  };
  // The message: opened by the content's first piece (or at the end, when the output has one).
  let opened = false;
  let sent = '';
  const at = () => ({ item_id: m.messageId, output_index: index, content_index: 0 });
  const open = async () => {
    if (opened) return;
    await closeThought();
    opened = true;
    await send('response.output_item.added', { output_index: index, item: messageItem(m, '', 'in_progress', null) });
    await send('response.content_part.added', { ...at(), part: textPart(m, '', []) });
  };
  const delta = async (text: string, lps: readonly TokenLogprob[]) => {
    await open();
    sent += text;
    await send('response.output_text.delta', { ...at(), delta: text, logprobs: m.withLogprobs ? outputLogprobs(m.tok, lps) : [] });
  };
  for await (const d of events) {
    const parts = split.push(d.text, d.finishReason !== undefined);
    if (parts.reasoning) await reason(parts.reasoning);
    if (parts.content) await delta(parts.content, d.logprobs);
  }
  const final = responseObject(m, await result);
  const items = final.output as (MessageOut | ReasoningOut | CallOut)[];
  let next = 0;
  if (items[0]?.type === 'reasoning') {
    // A run cut short ends the reasoning where the answer has it.
    const full = (items[0] as ReasoningOut).content[0]!.text;
    if (!thought.started || full.length > thought.text.length) await reason(full.slice(thought.text.length));
    await closeThought();
    next = 1;
  }
  if (items[next]?.type === 'message') {
    const part = (items[next] as MessageOut).content[0]!;
    // What the stream held and the answer keeps as text (a run cut short) goes out before the text is done.
    if (part.text.length > sent.length || !opened) await delta(part.text.slice(sent.length), []);
    await send('response.output_text.done', { ...at(), text: part.text, logprobs: part.logprobs ?? [] });
    await send('response.content_part.done', { ...at(), part });
    await send('response.output_item.done', { output_index: next, item: items[next] });
    next++;
  }
  for (let i = next; i < items.length; i++) {
    const call = items[i] as CallOut;
    await send('response.output_item.added', { output_index: i, item: { ...call, arguments: '', status: 'in_progress' } });
    await send('response.function_call_arguments.delta', { item_id: call.id, output_index: i, delta: call.arguments });
    await send('response.function_call_arguments.done', { item_id: call.id, output_index: i, name: call.name, arguments: call.arguments });
    await send('response.output_item.done', { output_index: i, item: call });
  }
  return final;
}

async function streamText(m: ResponseMeta, events: AsyncIterable<CandidateDelta>, result: Promise<GenerationResult>, send: Send) {
  const at = { item_id: m.messageId, output_index: 0, content_index: 0 };
  await send('response.output_item.added', { output_index: 0, item: messageItem(m, '', 'in_progress', null) });
  await send('response.content_part.added', { ...at, part: textPart(m, '', []) });
  for await (const d of events) {
    if (d.text || (m.withLogprobs && d.logprobs.length)) await send('response.output_text.delta', { ...at, delta: d.text, logprobs: m.withLogprobs ? outputLogprobs(m.tok, d.logprobs) : [] });
  }
  const final = responseObject(m, await result);
  const item = (final.output as { content: { text: string; logprobs?: TokenLogprob[] }[] }[])[0]!;
  const part = item.content[0]!;
  await send('response.output_text.done', { ...at, text: part.text, logprobs: part.logprobs ?? [] });
  await send('response.content_part.done', { ...at, part });
  await send('response.output_item.done', { output_index: 0, item });
  return final;
}

async function streamCalls(m: ResponseMeta, events: AsyncIterable<CandidateDelta>, result: Promise<GenerationResult>, send: Send) {
  const mode = m.toolMode!;
  const opened: { name: string; args: string }[] = [];
  const open = async (index: number, name: string) => {
    const item = functionCallItem(m, index, { name, arguments: '' }, 'in_progress');
    opened[index] = { name, args: '' };
    await send('response.output_item.added', { output_index: index, item });
  };
  const args = async (index: number, delta: string) => {
    opened[index]!.args += delta;
    await send('response.function_call_arguments.delta', { item_id: callIds(m, index).id, output_index: index, delta });
  };
  const reader = mode.kind === 'required' ? new ToolCallStream() : null;
  if (mode.kind === 'named') await open(0, mode.name);
  for await (const d of events) {
    if (!reader) {
      if (d.text) await args(0, d.text);
      continue;
    }
    for (const e of reader.push(d.text)) await (e.kind === 'open' ? open(e.index, e.name) : args(e.index, e.text));
  }
  const final = responseObject(m, await result);
  const done = final.output as { type: string; arguments?: string }[];
  for (const [index, call] of opened.entries()) {
    const item = done[index]?.type === 'function_call' ? done[index]! : functionCallItem(m, index, { name: call.name, arguments: call.args }, 'incomplete');
    await send('response.function_call_arguments.done', { item_id: callIds(m, index).id, output_index: index, name: call.name, arguments: item.arguments });
    await send('response.output_item.done', { output_index: index, item });
  }
  return final;
}
