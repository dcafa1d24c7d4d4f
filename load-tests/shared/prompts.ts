/**
 * The prompt set every load scenario sends, shared by the k6 scripts and the Node driver.
 * Arithmetic word problems in the default model's format, each with its expected answer so a run
 * can report accuracy per policy next to latency. Plain data: no Node or k6 APIs here.
 */
import { HARD_PROMPTS } from './prompts-hard.ts';

/** One load-test prompt: a question and the number the model should answer. */
export interface LoadPrompt {
  id: string;
  question: string;
  answer: string;
}

export const PROMPTS: readonly LoadPrompt[] = [
  { id: "q01", question: "Ann has 9 pens. She buys 4 more and gives 1 away. How many pens does she have now?", answer: "12" },
  { id: "q02", question: "Ben has 17 stamps. He gives 11 away and buys 2 more. How many stamps does he have now?", answer: "8" },
  { id: "q03", question: "Cara has 17 marbles. She buys 6 more. How many marbles does she have now?", answer: "23" },
  { id: "q04", question: "Dan has 3 apples. He buys 14 more and gives 1 away. How many apples does he have now?", answer: "16" },
  { id: "q05", question: "Eva has 3 coins. She gives 1 away and buys 8 more. How many coins does she have now?", answer: "10" },
  { id: "q06", question: "Finn has 17 shells. He buys 2 more. How many shells does he have now?", answer: "19" },
  { id: "q07", question: "Gia has 15 books. She buys 10 more and gives 9 away. How many books does she have now?", answer: "16" },
  { id: "q08", question: "Hugo has 15 cards. He gives 13 away and buys 14 more. How many cards does he have now?", answer: "16" },
  { id: "q09", question: "Ann has 3 pens. She buys 2 more. How many pens does she have now?", answer: "5" },
  { id: "q10", question: "Ben has 13 stamps. He buys 12 more and gives 17 away. How many stamps does he have now?", answer: "8" },
  { id: "q11", question: "Cara has 7 marbles. She gives 6 away and buys 8 more. How many marbles does she have now?", answer: "9" },
  { id: "q12", question: "Dan has 17 apples. He buys 12 more. How many apples does he have now?", answer: "29" },
  { id: "q13", question: "Eva has 13 coins. She buys 2 more and gives 11 away. How many coins does she have now?", answer: "4" },
  { id: "q14", question: "Finn has 15 shells. He gives 3 away and buys 8 more. How many shells does he have now?", answer: "20" },
  { id: "q15", question: "Gia has 7 books. She buys 14 more. How many books does she have now?", answer: "21" },
  { id: "q16", question: "Hugo has 9 cards. He buys 8 more and gives 1 away. How many cards does he have now?", answer: "16" },
  { id: "q17", question: "Ann has 3 pens. She gives 1 away and buys 14 more. How many pens does she have now?", answer: "16" },
  { id: "q18", question: "Ben has 19 stamps. He buys 8 more. How many stamps does he have now?", answer: "27" },
  { id: "q19", question: "Cara has 17 marbles. She buys 6 more and gives 19 away. How many marbles does she have now?", answer: "4" },
  { id: "q20", question: "Dan has 17 apples. He gives 1 away and buys 4 more. How many apples does he have now?", answer: "20" },
  { id: "q21", question: "Eva has 15 coins. She buys 8 more. How many coins does she have now?", answer: "23" },
  { id: "q22", question: "Finn has 19 shells. He buys 8 more and gives 17 away. How many shells does he have now?", answer: "10" },
  { id: "q23", question: "Gia has 7 books. She gives 6 away and buys 14 more. How many books does she have now?", answer: "15" },
  { id: "q24", question: "Hugo has 7 cards. He buys 6 more. How many cards does he have now?", answer: "13" },
  { id: "q25", question: "Ann has 15 pens. She buys 12 more and gives 9 away. How many pens does she have now?", answer: "18" },
  { id: "q26", question: "Ben has 7 stamps. He gives 5 away and buys 14 more. How many stamps does he have now?", answer: "16" },
  { id: "q27", question: "Cara has 5 marbles. She buys 14 more. How many marbles does she have now?", answer: "19" },
  { id: "q28", question: "Dan has 7 apples. He buys 8 more and gives 11 away. How many apples does he have now?", answer: "4" },
  { id: "q29", question: "Eva has 15 coins. She gives 14 away and buys 4 more. How many coins does she have now?", answer: "5" },
  { id: "q30", question: "Finn has 13 shells. He buys 2 more. How many shells does he have now?", answer: "15" },
  { id: "q31", question: "Gia has 15 books. She buys 8 more and gives 1 away. How many books does she have now?", answer: "22" },
  { id: "q32", question: "Hugo has 15 cards. He gives 7 away and buys 4 more. How many cards does he have now?", answer: "12" },
];

/** Which prompt set a run sends: the standard tier (above) or the hard tier (prompts-hard.ts). */
export type PromptTier = 'standard' | 'hard';

/** The prompt for iteration `i` of a tier (round robin, so every arm sees the same sequence). */
export function promptAt(i: number, tier: PromptTier = 'standard'): LoadPrompt {
  const set = tier === 'hard' ? HARD_PROMPTS : PROMPTS;
  const n = set.length;
  return set[((i % n) + n) % n]!;
}

/** Completion-style prompt text in the default model's `Q: ... / A:` format. */
export function completionPrompt(p: LoadPrompt): string {
  return `Q: ${p.question}\nA:`;
}
