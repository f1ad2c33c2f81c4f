import { describe, expect, it } from 'vitest';
import { ElectionAdmission } from '../src/election-admission.js';

/** Lets queued microtasks (the admission's hand-over) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ElectionAdmission: a queue for the slots', () => {
  it('hands a freed slot to the longest waiter, one slot to one waiter', async () => {
    const a = new ElectionAdmission(2);
    expect(a.tryEnter()).toBe(true);
    expect(a.tryEnter()).toBe(true);
    expect(a.tryEnter()).toBe(false);
    const ran: string[] = [];
    for (const id of ['w1', 'w2', 'w3']) {
      a.wait(() => {
        ran.push(id);
        expect(a.tryEnter()).toBe(true);
      });
    }
    await settle();
    expect(ran).toEqual([]);
    expect(a.waiting).toBe(3);
    a.leave();
    await settle();
    expect(ran).toEqual(['w1']);
    a.leave();
    a.leave();
    await settle();
    expect(ran).toEqual(['w1', 'w2', 'w3']);
    expect(a.active).toBe(2);
    expect(a.waiting).toBe(0);
  });

  it('a waiter that no longer needs a slot passes it on; one that waits again goes to the back', async () => {
    const a = new ElectionAdmission(1);
    expect(a.tryEnter()).toBe(true);
    const ran: string[] = [];
    a.wait(() => ran.push('heard-a-leader')); // takes no slot
    let again = true;
    const requeue = () => {
      ran.push('requeue');
      if (again) {
        again = false;
        a.wait(requeue);
      } else expect(a.tryEnter()).toBe(true);
    };
    a.wait(requeue);
    a.wait(() => {
      ran.push('last');
      expect(a.tryEnter()).toBe(true);
    });
    a.leave();
    await settle();
    // The slot went past the first waiter; the one that asked again waited behind 'last'.
    expect(ran).toEqual(['heard-a-leader', 'requeue', 'last']);
    expect(a.active).toBe(1);
    a.leave();
    await settle();
    expect(ran).toEqual(['heard-a-leader', 'requeue', 'last', 'requeue']);
    expect(a.active).toBe(1);
  });

  it('a slot free when a group asks to wait is handed at once', async () => {
    const a = new ElectionAdmission(1);
    let ran = false;
    a.wait(() => {
      ran = a.tryEnter();
    });
    await settle();
    expect(ran).toBe(true);
  });
});
