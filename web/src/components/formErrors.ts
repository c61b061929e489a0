// What a form does after validating: with errors, once they are on screen,
// focus goes to the first bad field, so keyboard and screen-reader users land on it.
import { nextTick } from 'vue';

/** True when there are errors (and the first bad field now has focus). */
export async function focusFirstError(errors: Record<string, string | undefined>, focus: (field: string) => void): Promise<boolean> {
  const first = Object.keys(errors)[0];
  if (!first) return false;
  await nextTick();
  focus(first);
  return true;
}
