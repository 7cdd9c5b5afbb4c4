export { buildProgram, type CommandModule } from './program.js';
