/**
 * `list` with `value` appended. Short lists are copied at their exact length instead of
 * pushed to: V8 gives an array that is pushed to room for 16 more elements (some 150 bytes),
 * and a multi-raft process holds a few such lists per group, nearly all of one element.
 * Lists of 8 or more are pushed to (and returned as they are).
 */
export function appendTight<T>(list: T[], value: T): T[] {
  if (list.length >= 8) {
    list.push(value);
    return list;
  }
  // concat (unlike push or spread) allocates exactly the result's length.
  return list.concat([value]);
}
