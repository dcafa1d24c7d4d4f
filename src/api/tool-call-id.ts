/** A tool call's id, as OpenAI writes them (`call_` and 24 hex digits), for HTTP and gRPC alike. */
import { randomUUID } from 'node:crypto';

export const newCallId = (): string => `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
