/**
 * Types for the xk6-sse extension (`k6/x/sse`, github.com/phymbert/xk6-sse), which k6 resolves as a
 * community extension (older k6: `xk6 build --with github.com/phymbert/xk6-sse`). @types/k6 does
 * not ship them. Only the surface the streaming scenario uses is declared.
 */
declare module 'k6/x/sse' {
  export interface SseEvent {
    id: string;
    name: string;
    data: string;
  }
  export interface SseError {
    error(): string;
  }
  export interface SseParams {
    method?: string;
    body?: string;
    headers?: Record<string, string>;
    tags?: Record<string, string>;
  }
  export interface SseClient {
    on(event: 'open' | 'close', handler: () => void): void;
    on(event: 'event', handler: (event: SseEvent) => void): void;
    on(event: 'error', handler: (error: SseError) => void): void;
    close(): void;
  }
  export interface SseResponse {
    status: number;
    error?: string;
    headers?: Record<string, string>;
  }
  export function open(url: string, params: SseParams, callback: (client: SseClient) => void): SseResponse;
  const sse: { open: typeof open };
  export default sse;
}
