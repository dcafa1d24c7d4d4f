// Worker thread entry of the guide checker: registers the TypeScript loader, then starts the worker.
import { register } from 'tsx/esm/api';

register();
await import('./guide-check-worker.ts');
