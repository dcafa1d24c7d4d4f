/**
 * The Responses API's conversation items: the ids the request's input items are stored under (a
 * client may leave them out), and the items a stored response hands to a request that names it as
 * `previous_response_id` (its input, then its output, read back as input items).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { InvalidRequestError } from '../../errors.ts';
import type { StoredResponse } from '../../store/types.ts';
import { InputItem, type InputItemBody } from './responses-schema.ts';

const PREFIX = { message: 'msg', function_call: 'fc', function_call_output: 'fco' } as const;

/** The items with an id each: the client's where given, else a new one (`msg_`, `fc_`, `fco_`). */
export function withIds(items: readonly InputItemBody[]): InputItemBody[] {
  return items.map((item) => (item.id ? item : { ...item, id: `${PREFIX[item.type]}_${randomUUID().replaceAll('-', '')}` }));
}

const Items = z.array(InputItem);

/** A stored response's items as the start of a new conversation: its input, then its output. */
export function continuedItems(prev: StoredResponse, id: string): InputItemBody[] {
  const output = (prev.object as { output?: unknown }).output;
  const parsed = Items.safeParse([...prev.input, ...(Array.isArray(output) ? output : [])]);
  if (!parsed.success) throw new InvalidRequestError(`the stored response '${id}' cannot be continued: ${parsed.error.issues[0]?.message ?? 'unreadable items'}`, 'previous_response_id');
  return parsed.data;
}
