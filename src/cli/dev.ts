/** Entry for running the CLI from TypeScript sources (tests, development): `node --import tsx src/cli/dev.ts …`. */
import { main } from './main.js';

process.exitCode = await main(process.argv);
