import { emptySequence, enqueue, finish, ungranted } from '../../workflows/sequence';

test("each endpoint queues a key's messages in the order they were enqueued, once each", () => {
  const state = emptySequence();
  enqueue(state, 'm1', 'a.b', ['e1', 'e2']);
  enqueue(state, 'm2', 'a.b', ['e1']);
  enqueue(state, 'm1', 'a.b', ['e1', 'e2']);
  expect(state.queues).toEqual({ e1: ['m1', 'm2'], e2: ['m1'] });
  expect(ungranted(state).sort()).toEqual(['e1', 'e2']);
});

test('finishing the first message frees its endpoint for the next; finishing one behind only removes it', () => {
  const state = emptySequence();
  enqueue(state, 'm1', 'a.b', ['e1']);
  enqueue(state, 'm2', 'a.b', ['e1']);
  enqueue(state, 'm3', 'a.b', ['e1']);
  state.granted.e1 = true;
  expect(ungranted(state)).toEqual([]);
  finish(state, 'm2', 'e1');
  expect(state.queues.e1).toEqual(['m1', 'm3']);
  expect(ungranted(state)).toEqual([]);
  finish(state, 'm1', 'e1');
  expect(state.queues.e1).toEqual(['m3']);
  expect(ungranted(state)).toEqual(['e1']);
});

test('a finished message enqueued again is not delivered twice, and an emptied queue is dropped', () => {
  const state = emptySequence();
  enqueue(state, 'm1', 'a.b', ['e1']);
  finish(state, 'm1', 'e1');
  expect(state.queues).toEqual({});
  enqueue(state, 'm1', 'a.b', ['e1']);
  expect(state.queues).toEqual({});
  expect(ungranted(state)).toEqual([]);
  finish(state, 'unknown', 'e1');
  expect(state.finished).toEqual(['m1:e1']);
});
