import { readFile } from 'node:fs/promises';

/**
 * SQuAD 2.0 as an abstention benchmark for grounded answering. We do not score answer spans
 * (EM/F1): a grounded system answers with cited quotes, so an answerable question counts as
 * hit when the system answered and one of its quotes contains a gold answer; an unanswerable
 * one counts when the system abstained.
 */

export interface SquadQuestion {
  id: string;
  question: string;
  isImpossible: boolean;
  /** Gold answer texts (empty for unanswerable questions). */
  answers: string[];
}

export interface SquadParagraph {
  context: string;
  questions: SquadQuestion[];
}

export interface SquadArticle {
  title: string;
  paragraphs: SquadParagraph[];
}

/** What a system did for one question. */
export interface SquadPrediction {
  abstained: boolean;
  quotes: string[];
}

export interface SquadScore {
  /** Share of answerable questions answered (not abstained) with a quote containing a gold answer. */
  answerable_hit_rate: number;
  /** Share of unanswerable questions on which the system abstained. */
  unanswerable_abstain_rate: number;
  answerable: number;
  unanswerable: number;
}

/**
 * Scores predictions (by question id) against the dataset's questions. A question without a
 * prediction counts as a miss for answerable and as not abstained for unanswerable, so a
 * system cannot score by skipping questions.
 */
export function scoreSquad(
  predictions: ReadonlyMap<string, SquadPrediction> | Readonly<Record<string, SquadPrediction>>,
  dataset: readonly SquadQuestion[],
): SquadScore {
  const get = (id: string) => (predictions instanceof Map ? predictions.get(id) : (predictions as Readonly<Record<string, SquadPrediction>>)[id]);
  let answerable = 0;
  let hits = 0;
  let unanswerable = 0;
  let abstains = 0;
  for (const question of dataset) {
    const prediction = get(question.id);
    if (question.isImpossible) {
      unanswerable++;
      if (prediction?.abstained) abstains++;
      continue;
    }
    answerable++;
    if (prediction && !prediction.abstained && quotesContainAnswer(prediction.quotes, question.answers)) hits++;
  }
  return {
    answerable_hit_rate: answerable === 0 ? 0 : hits / answerable,
    unanswerable_abstain_rate: unanswerable === 0 ? 0 : abstains / unanswerable,
    answerable,
    unanswerable,
  };
}

/** True when some quote contains some gold answer as a whole-token run (after SQuAD normalisation). */
export function quotesContainAnswer(quotes: readonly string[], answers: readonly string[]): boolean {
  const golds = answers.map(normalizeSquadAnswer).filter((a) => a.length > 0);
  return quotes.some((quote) => {
    const padded = ` ${normalizeSquadAnswer(quote)} `;
    return golds.some((gold) => padded.includes(` ${gold} `));
  });
}

/** The official SQuAD answer normalisation: lowercase, no punctuation, no articles, single spaces. */
export function normalizeSquadAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .join(' ');
}

/** Parses SQuAD v2 JSON (`data[].title`, `paragraphs[].context`, `qas[]`). */
export function parseSquad(json: unknown): SquadArticle[] {
  const data = (json as { data?: unknown }).data;
  if (!Array.isArray(data)) throw new Error('not SQuAD JSON: missing data[]');
  return data.map((article: { title: string; paragraphs: Array<{ context: string; qas: RawQuestion[] }> }) => ({
    title: article.title,
    paragraphs: article.paragraphs.map((p) => ({
      context: p.context,
      questions: p.qas.map((q) => ({
        id: q.id,
        question: q.question,
        isImpossible: q.is_impossible === true,
        answers: (q.answers ?? []).map((a) => a.text),
      })),
    })),
  }));
}

interface RawQuestion {
  id: string;
  question: string;
  is_impossible?: boolean;
  answers?: Array<{ text: string }>;
}

export async function loadSquad(path: string): Promise<SquadArticle[]> {
  return parseSquad(JSON.parse(await readFile(path, 'utf8')));
}

/** Every question of the articles, in file order. */
export function squadQuestions(articles: readonly SquadArticle[]): SquadQuestion[] {
  return articles.flatMap((a) => a.paragraphs.flatMap((p) => p.questions));
}
