/**
 * The output part of a streamed response, as OpenAI's Responses API streams it: a message's text
 * (`response.output_item.added`, `response.content_part.added`, `response.output_text.delta` per
 * delta, their `.done` events) or, under a tool choice, function calls (each opened by
 * `response.output_item.added` once its name is known, its arguments by
 * `response.function_call_arguments.delta`, then `.done` and `response.output_item.done`).
 * The events around it (created, in_progress, completed) are the route's.
 */
import { AutoToolStream } from '../../engine/tool-call-auto-stream.ts';
import { ToolCallStream } from '../../engine/tool-call-stream.ts';
import type { ToolMode } from '../../engine/tool-calls.ts';
import type { CandidateDelta, GenerationResult, TokenLogprob } from '../../engine/types.ts';
import { callIds, functionCallItem, messageItem, outputLogprobs, responseObject, textPart, type ResponseMeta } from './responses-format.ts';

export type Send = (type: string, payload: Record<string, unknown>) => Promise<void>;

/** Streams the one candidate's output; returns the final response object (ids as streamed). */
export async function streamOutput(m: ResponseMeta, events: AsyncIterable<CandidateDelta>, result: Promise<GenerationResult>, send: Send): Promise<Record<string, unknown>> {
  if (m.toolMode?.kind === 'auto') return streamAuto(m, events, result, send);
  return m.toolMode ? streamCalls(m, events, result, send) : streamText(m, events, result, send);
}

type MessageOut = { type: string; content: { text: string; logprobs?: TokenLogprob[] }[] };
type CallOut = { type: string; id: string; name: string; arguments: string };

/**
 * Under `tool_choice: "auto"`: the message's text as it comes, except what may be the start of
 * calls (AutoToolStream), then the calls the text made, each whole; the same items as the final
 * response's output.
 */
async function streamAuto(m: ResponseMeta, events: AsyncIterable<CandidateDelta>, result: Promise<GenerationResult>, send: Send) {
  const mode = m.toolMode as Extract<ToolMode, { kind: 'auto' }>;
  const split = new AutoToolStream(mode.parser, mode.names);
  const at = { item_id: m.messageId, output_index: 0, content_index: 0 };
  let opened = false;
  let sent = '';
  const open = async () => {
    if (opened) return;
    opened = true;
    await send('response.output_item.added', { output_index: 0, item: messageItem(m, '', 'in_progress', null) });
    await send('response.content_part.added', { ...at, part: textPart(m, '', []) });
  };
  const delta = async (text: string, lps: readonly TokenLogprob[]) => {
    await open();
    sent += text;
    await send('response.output_text.delta', { ...at, delta: text, logprobs: m.withLogprobs ? outputLogprobs(m.tok, lps) : [] });
  };
  for await (const d of events) {
    const { content } = split.push(d.text, d.finishReason !== undefined);
    if (content) await delta(content, d.logprobs);
  }
  const final = responseObject(m, await result);
  const items = final.output as (MessageOut | CallOut)[];
  let first = 0;
  if (items[0]?.type === 'message') {
    const part = (items[0] as MessageOut).content[0]!;
    // What the stream held and the answer keeps as text (a run cut short) goes out before the text is done.
    if (part.text.length > sent.length || !opened) await delta(part.text.slice(sent.length), []);
    await send('response.output_text.done', { ...at, text: part.text, logprobs: part.logprobs ?? [] });
    await send('response.content_part.done', { ...at, part });
    await send('response.output_item.done', { output_index: 0, item: items[0] });
    first = 1;
  }
  for (let index = first; index < items.length; index++) {
    const call = items[index] as CallOut;
    await send('response.output_item.added', { output_index: index, item: { ...call, arguments: '', status: 'in_progress' } });
    await send('response.function_call_arguments.delta', { item_id: call.id, output_index: index, delta: call.arguments });
    await send('response.function_call_arguments.done', { item_id: call.id, output_index: index, name: call.name, arguments: call.arguments });
    await send('response.output_item.done', { output_index: index, item: call });
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
