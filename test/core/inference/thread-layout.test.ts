import { defaultThreadLayout, resolveThreadLayout } from '../../../core/inference/thread-layout';

describe('the default thread layout of a worker', () => {
  it.each([
    [1, { inferenceThreads: 1, intraOpThreads: 1 }],
    [2, { inferenceThreads: 2, intraOpThreads: 1 }],
    [4, { inferenceThreads: 4, intraOpThreads: 1 }],
    [6, { inferenceThreads: 4, intraOpThreads: 1 }],
    [16, { inferenceThreads: 4, intraOpThreads: 4 }],
  ])('on a CPU with %i cores runs one single-threaded lane per core, up to four', (cores, layout) => {
    expect(defaultThreadLayout('cpu', cores)).toEqual(layout);
  });

  it('on CUDA runs one inference thread and leaves operator threads to onnxruntime', () => {
    expect(defaultThreadLayout('cuda', 16)).toEqual({ inferenceThreads: 1, intraOpThreads: 0 });
  });

  it('keeps each count that was asked for and fills only the others', () => {
    const fallback = defaultThreadLayout('cpu');
    expect(resolveThreadLayout({ inferenceThreads: 1 }, 'cpu')).toEqual({
      inferenceThreads: 1,
      intraOpThreads: fallback.intraOpThreads,
    });
    expect(resolveThreadLayout({ intraOpThreads: 0 }, 'cpu')).toEqual({
      inferenceThreads: fallback.inferenceThreads,
      intraOpThreads: 0,
    });
  });
});
