import { describe, expect, it } from 'vitest';
import { observedClasses, reconcileClasses } from '../../model-pipeline/import/model-classes';

const labels = { name: 'label', type: 'string', shape: [null] } as const;
const int64Labels = { name: 'label', type: 'int64', shape: [null] } as const;

describe('observedClasses', () => {
  it('gives each score column the label of the rows whose largest score it holds', () => {
    // Act
    const classes = observedClasses([0.9, 0.1, 0.2, 0.8, 0.7, 0.3], ['No', 'yes', 'No'], 3, { scores: 'probabilities', labels });

    // Assess
    expect(classes).toEqual({ labels: ['No', 'yes'], integer: false, source: 'label output "label"' });
  });

  it('reads a single score column as the second class above 0.5', () => {
    // Act
    const classes = observedClasses([0.2, 0.9], ['Spam', 'ham'], 2, { scores: 'p', labels });

    // Assess
    expect(classes.labels).toEqual(['Spam', 'ham']);
  });

  it('leaves a column no row picks unknown', () => {
    // Act
    const classes = observedClasses([0.6, 0.3, 0.1, 0.2, 0.7, 0.1], ['b', 'c'], 2, { scores: 'p', labels });

    // Assess
    expect(classes.labels).toEqual(['b', 'c', undefined]);
  });

  it('fills the columns no row picks when every integer label seen is its column index', () => {
    // Act
    const classes = observedClasses([0.6, 0.3, 0.1, 0.2, 0.7, 0.1], [0n, 1n], 2, { scores: 'p', labels: int64Labels });

    // Assess
    expect(classes).toMatchObject({ labels: ['0', '1', '2'], integer: true });
  });

  it('throws when the label output gives one label to two score columns', () => {
    // Act
    const observe = () => observedClasses([0.9, 0.1, 0.2, 0.8], ['x', 'x'], 2, { scores: 'probabilities', labels });

    // Assess
    expect(observe).toThrow(/gives "x" both for rows whose largest score in "probabilities" is column 0 and column 1.*--classes/);
  });
});

describe('reconcileClasses', () => {
  const model = { labels: ['Malignant', 'benign'], integer: false, source: 'LinearClassifier classlabels_strings' };
  const integers = { labels: ['2', '0', '1'], integer: true, source: 'LinearClassifier classlabels_ints' };

  it('keeps the model\'s order when no --classes are given', () => {
    expect(reconcileClasses(model, undefined, ['benign', 'Malignant'])).toEqual(['Malignant', 'benign']);
  });

  it('throws naming both lists when --classes reorder string labels', () => {
    expect(() => reconcileClasses(model, ['benign', 'Malignant'], [])).toThrow(
      '--classes benign, Malignant contradict the class labels the model carries, in the order of its score columns: Malignant, benign',
    );
  });

  it('takes --classes as names of integer labels, one per score column', () => {
    expect(reconcileClasses(integers, ['high', 'low', 'medium'], [])).toEqual(['high', 'low', 'medium']);
  });

  it('throws when integer --classes reorder integer labels', () => {
    expect(() => reconcileClasses(integers, ['0', '1', '2'], [])).toThrow(/--classes 0, 1, 2 contradict .* 2, 0, 1/);
  });

  it('throws when --classes name another number of classes', () => {
    expect(() => reconcileClasses(model, ['a', 'b', 'c'], [])).toThrow('--classes a, b, c name 3 classes but the model has 2: Malignant, benign');
  });

  it('fills the one unknown column with the one label value left over', () => {
    const partial = { labels: ['b', 'c', undefined], integer: false, source: 'label output "label"' };

    expect(reconcileClasses(partial, undefined, ['a', 'b', 'c'])).toEqual(['b', 'c', 'a']);
  });

  it('throws pointing to --classes when unknown columns cannot be told apart', () => {
    const partial = { labels: ['b', undefined, undefined], integer: false, source: 'label output "label"' };

    expect(() => reconcileClasses(partial, undefined, ['a', 'b', 'c'])).toThrow(/only some score columns on this sample \(b, \?, \?\).*--classes/);
  });
});
