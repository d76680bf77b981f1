/**
 * Parsing a generated 2,000-line Dockerfile: kiln's parseDockerfile() and parse + outline (every stage
 * expanded, as `kiln outline` does), next to dockerfile-ast's parse() of the same text in the same run.
 * dockerfile-ast does less (no validation, no expansion, no stage graph), so the ratio is a floor for kiln.
 * Medians of N runs after warm-up. Run: npx tsx bench/parse-bench.ts [runs]
 */
import { DockerfileParser } from 'dockerfile-ast';
import { outlineDockerfile, parseDockerfile } from '../src/parser/index.js';
import { median } from './lib.js';

const RUNS = Number(process.argv[2] ?? 60);

/** A realistic mix: stages, ARG/ENV with expansion, RUN with continuations and mounts, heredocs, COPY flags. */
export function generateDockerfile(targetLines: number): string {
  const out: string[] = ['# syntax=docker/dockerfile:1', 'ARG BASE=debian:bookworm', 'ARG VERSION=1.0.0'];
  let stage = 0;
  // Whole blocks only (a cut could end inside a heredoc or continuation); the result is about targetLines long.
  while (out.length < targetLines) {
    const name = `stage${stage}`;
    out.push(`FROM \${BASE} AS ${name}`, 'ARG VERSION', `ENV APP_HOME=/opt/app${stage} PATH=/opt/app${stage}/bin:$PATH`, 'WORKDIR $APP_HOME');
    for (let i = 0; i < 20; i++) {
      switch (i % 6) {
        case 0:
          out.push(
            `RUN --mount=type=cache,target=/var/cache/apt,id=apt${stage} \\`,
            '    apt-get update && \\',
            `    apt-get install -y pkg${i} \\`,
            '    && rm -rf /var/lib/apt/lists/*',
          );
          break;
        case 1:
          out.push(`COPY --chown=1000:1000 --chmod=0644 src/${i}/ \${APP_HOME}/src/${i}/`);
          break;
        case 2:
          out.push(`LABEL org.example.version="\${VERSION}" org.example.step${i}="${name}-${i}"`);
          break;
        case 3:
          out.push('RUN <<EOF', `echo building ${name} step ${i}`, 'make -j4 all', 'EOF');
          break;
        case 4:
          out.push(`ENV STEP${i}=\${APP_HOME:-/tmp}/step${i} OTHER${i}="a b c"`);
          break;
        default:
          out.push(stage > 0 ? `COPY --from=stage${stage - 1} /opt/app${stage - 1}/out /in/${i}` : `COPY . /in/${i}`);
      }
    }
    out.push('CMD ["/opt/app/bin/run", "--port", "8080"]');
    stage++;
  }
  return out.join('\n') + '\n';
}

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function main(): void {
  const text = generateDockerfile(2000);
  const lines = text.split('\n').length - 1;
  const df = parseDockerfile(text);
  const outline = outlineDockerfile(df);
  const instructions = df.stages.reduce((n, s) => n + s.instructions.length, 0);
  for (let i = 0; i < 5; i++) {
    parseDockerfile(text);
    outlineDockerfile(parseDockerfile(text));
    DockerfileParser.parse(text);
  }
  const kilnParse: number[] = [];
  const kilnOutline: number[] = [];
  const ast: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    kilnParse.push(time(() => parseDockerfile(text)));
    kilnOutline.push(time(() => outlineDockerfile(parseDockerfile(text))));
    ast.push(time(() => DockerfileParser.parse(text)));
  }
  const p = median(kilnParse);
  const o = median(kilnOutline);
  const a = median(ast);
  console.log(
    `Dockerfile: ${lines} lines, ${df.stages.length} stages, ${instructions} instructions (${outline.stages.length} outlined), ${RUNS} runs, medians`,
  );
  console.log(`kiln parseDockerfile        ${p.toFixed(2)} ms   ${(a / p).toFixed(2)}x dockerfile-ast`);
  console.log(`kiln parse + outline        ${o.toFixed(2)} ms   ${(a / o).toFixed(2)}x dockerfile-ast`);
  console.log(`dockerfile-ast parse        ${a.toFixed(2)} ms   (structure only: no validation, expansion or stage graph)`);
}

main();
