// Worker thread entry of the SQLite store: registers the TypeScript loader, then starts the worker.
import { register } from 'tsx/esm/api';

register();
await import('./sqlite-worker.ts');
