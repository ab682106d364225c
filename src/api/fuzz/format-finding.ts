import type { Finding, FuzzReport } from './fuzz-session.js';

/** A finding as a few readable lines: what was sent, what came back, what it broke. */
export function formatFinding(finding: Finding): string {
  const { request, answer } = finding;
  const headers = Object.entries(request.headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('; ');
  return [
    `[${finding.check}] ${finding.signature} (seen ${finding.seen}×, first after ${finding.firstAt} requests${finding.minimised ? ', shrunk' : ''})`,
    `  ${request.method} ${request.url}${headers ? `  {${headers}}` : ''}`,
    ...(request.body === undefined ? [] : [`  body: ${JSON.stringify(request.body)}`]),
    `  → ${answer.status} ${answer.body}`,
    `  ${finding.detail}`,
  ].join('\n');
}

/** One-paragraph summary of a run. */
export function formatReport(report: FuzzReport): string {
  const routes = Object.keys(report.perRoute).length;
  const statuses = Object.entries(report.statuses)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');
  return `fuzz seed ${report.seed}: ${report.requests} requests (+${report.runChecks} run reads) over ${routes} routes in ${(report.elapsedMs / 1000).toFixed(1)} s; statuses ${statuses}; ${report.findings.length} distinct findings`;
}
