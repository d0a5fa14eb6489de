import { memoryPatternFor } from '../../../core/inference/memory-pattern';

describe("whether sessions plan each run's memory as one block", () => {
  const saved = process.env.APPARATE_MEMORY_PATTERN;
  afterEach(() => {
    if (saved === undefined) delete process.env.APPARATE_MEMORY_PATTERN;
    else process.env.APPARATE_MEMORY_PATTERN = saved;
  });

  it("keeps onnxruntime's pattern unless told otherwise, shared arena or not", () => {
    delete process.env.APPARATE_MEMORY_PATTERN;
    expect(memoryPatternFor(true)).toBe(true);
    expect(memoryPatternFor(false)).toBe(true);
  });

  it('leaves it out of sessions on the shared arena when APPARATE_MEMORY_PATTERN=off, and only "off" counts', () => {
    process.env.APPARATE_MEMORY_PATTERN = 'off';
    expect(memoryPatternFor(true)).toBe(false);
    expect(memoryPatternFor(false)).toBe(true);
    process.env.APPARATE_MEMORY_PATTERN = 'no';
    expect(memoryPatternFor(true)).toBe(true);
  });
});
