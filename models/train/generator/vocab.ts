/** Names, objects and phrasing used by the problem generator. */

export interface Person {
  name: string;
  /** Subject pronoun, capitalised ("She", "He"). */
  pronoun: string;
  /** Possessive pronoun, lower case ("her", "his"). */
  possessive: string;
  /** Object pronoun, lower case ("her", "him"). */
  object: string;
}

const FEMALE = ['Ann', 'Mia', 'Lily', 'Emma', 'Zoe', 'Sara', 'Nina', 'Ruth', 'Ava', 'Lucy', 'Kate', 'Rosa', 'Maya', 'Ella', 'Jane', 'Amy'];
const MALE = ['Tom', 'Ben', 'Sam', 'Leo', 'Max', 'Jack', 'Omar', 'Ivan', 'Carl', 'Paul', 'Dan', 'Eric', 'Hugo', 'Noah', 'Luke', 'Raj'];

/** Every person the generator can name. */
export const PEOPLE: readonly Person[] = [
  ...FEMALE.map((name) => ({ name, pronoun: 'She', possessive: 'her', object: 'her' })),
  ...MALE.map((name) => ({ name, pronoun: 'He', possessive: 'his', object: 'him' })),
];

/** Countable objects (plural form). */
export const OBJECTS: readonly string[] = [
  'pens', 'apples', 'books', 'coins', 'stamps', 'marbles', 'cards', 'shells', 'stickers', 'cookies',
  'pencils', 'flowers', 'eggs', 'beads', 'candles', 'rocks', 'cups', 'toys', 'balls', 'boxes',
  'oranges', 'plums', 'keys', 'hats', 'kites', 'nuts', 'buttons', 'ribbons', 'bottles', 'plates',
];

/** Templates for adding b items; {p} pronoun, {q} possessive, {m} object pronoun, {o} object, {b} amount, {n} other person. */
export const ADD_PHRASES: readonly string[] = [
  '{p} buys {b} more.',
  '{p} finds {b} more {o}.',
  '{n} gives {m} {b} more {o}.',
  '{p} gets {b} more {o}.',
  '{p} makes {b} more.',
  '{p} wins {b} more {o}.',
];

/** Templates for removing b items. */
export const SUB_PHRASES: readonly string[] = [
  '{p} gives {b} away.',
  '{p} gives {b} {o} to {n}.',
  '{p} loses {b} of them.',
  '{p} sells {b} {o}.',
  '{p} uses {b} of them.',
  '{n} takes {b} {o} from {q} pile.',
];

/** Templates for multiplying by k. */
export const MUL_PHRASES: readonly string[] = [
  'Then {pl} has {k} times as many {o} as before.',
  '{p} multiplies {q} {o} by {k}.',
  'The number of {o} grows to {k} times as many.',
];

/** Templates for dividing by k (always exact). */
export const DIV_PHRASES: readonly string[] = [
  '{p} splits {q} {o} into {k} equal groups and keeps one group.',
  '{p} shares {q} {o} equally among {k} friends and keeps one share.',
  '{p} keeps only one out of every {k} {o}.',
];

/** Irrelevant-detail sentences; {n} other person, {c} a number, {o2} another object. */
export const DISTRACTOR_PHRASES: readonly string[] = [
  '{n} has {c} {o2}.',
  'It is {c} degrees outside.',
  '{n} is {c} years old.',
  'The shop is {c} meters away.',
  '{n} buys {c} {o2}.',
  'Each of the {o2} costs {c} dollars.',
];
