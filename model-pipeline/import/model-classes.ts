import type { TensorSignature } from '../../core/model/onnx-session';
import type { ModelProto, NodeProto } from '../onnx/proto';
import { argmaxAt } from '../../core/model/argmax';

/** The class labels a classifier carries, one per score column, in the order of its score columns. */
export interface ModelClasses {
  /** One label per score column; undefined for a column the sample never revealed. */
  readonly labels: readonly (string | undefined)[];
  /** The model's labels are integers (classlabels_int64s, an int64 label output), which --classes may name. */
  readonly integer: boolean;
  /** Where the labels were read, for messages and provenance, e.g. 'LinearClassifier classlabels_strings'. */
  readonly source: string;
}

const decoder = new TextDecoder();
const isInteger = (value: string) => /^-?\d+$/.test(value.trim());

/**
 * The class labels a classifier's graph names for the columns of its score tensor: the
 * `classlabels_strings` / `classlabels_int64s` (`classlabels_ints`) of the nearest ai.onnx.ml
 * classifier node the scores come from (LinearClassifier, TreeEnsembleClassifier, SVMClassifier, …;
 * skl2onnx and onnxmltools write them), or the keys of a ZipMap that reads the scores.
 * Undefined when the graph names none, e.g. an MLP whose label is looked up from a constant.
 */
export function declaredClasses(model: ModelProto, scoreTensor: string): ModelClasses | undefined {
  const nodes = model.graph?.node ?? [];
  const producers = new Map<string, NodeProto>();
  for (const node of nodes) for (const output of node.output ?? []) producers.set(output, node);
  // Breadth first from the score tensor back towards the input: the nearest labelled node wins.
  const queue = [scoreTensor];
  const seen = new Set(queue);
  while (queue.length > 0) {
    const tensor = queue.shift()!;
    for (const zipMap of nodes.filter((n) => n.opType === 'ZipMap' && n.input?.[0] === tensor)) {
      const labels = labelAttribute(zipMap);
      if (labels) return labels;
    }
    const producer = producers.get(tensor);
    if (!producer) continue;
    const labels = labelAttribute(producer);
    if (labels) return labels;
    for (const input of producer.input ?? []) {
      if (input && !seen.has(input)) {
        seen.add(input);
        queue.push(input);
      }
    }
  }
  return undefined;
}

function labelAttribute(node: NodeProto): ModelClasses | undefined {
  for (const attribute of node.attribute ?? []) {
    const source = `${node.opType} ${attribute.name}`;
    if (attribute.name === 'classlabels_strings' && attribute.strings?.length) {
      return { labels: attribute.strings.map((s) => decoder.decode(s)), integer: false, source };
    }
    if ((attribute.name === 'classlabels_int64s' || attribute.name === 'classlabels_ints') && attribute.ints?.length) {
      return { labels: attribute.ints.map((i) => String(i)), integer: true, source };
    }
  }
  return undefined;
}

/** A model output that holds one class label per row: an int64, int32 or string tensor of shape [batch] or [batch, 1], preferring one named like "label". */
export function labelOutput(outputs: readonly TensorSignature[], scoreTensor: string): TensorSignature | undefined {
  const candidates = outputs.filter(
    (s) => s.name !== scoreTensor && ['int64', 'int32', 'string'].includes(s.type) && (s.shape.length === 1 || (s.shape.length === 2 && s.shape[1] === 1)),
  );
  return candidates.find((s) => /label/i.test(s.name)) ?? candidates[0];
}

/**
 * The class labels a model's own label output gives the sample rows, per score column: each
 * row's label is credited to the column of its largest score (a single column: above 0.5, or
 * above 0 when it holds logits), and each column takes the label most of its rows got. Columns
 * no row picks stay unknown, unless every label seen is its column's index.
 */
export function observedClasses(
  scores: ArrayLike<number>,
  labels: ArrayLike<number | bigint | string>,
  rows: number,
  output: { readonly scores: string; readonly labels: TensorSignature },
): ModelClasses {
  const width = rows > 0 ? scores.length / rows : 0;
  let threshold = 0.5;
  for (let i = 0; i < scores.length; i++) if (scores[i]! < 0 || scores[i]! > 1) threshold = 0;
  const columns = width === 1 ? 2 : width;
  const counts = Array.from({ length: columns }, () => new Map<string, number>());
  for (let r = 0; r < rows; r++) {
    const best = width === 1 ? (scores[r]! > threshold ? 1 : 0) : argmaxAt(scores, r * width, width);
    const label = String(labels[r]);
    counts[best]!.set(label, (counts[best]!.get(label) ?? 0) + 1);
  }
  const found: (string | undefined)[] = counts.map((c) => [...c.entries()].sort((a, b) => b[1] - a[1])[0]?.[0]);
  const source = `label output "${output.labels.name}"`;
  found.forEach((label, column) => {
    const other = found.indexOf(label);
    if (label !== undefined && other !== column) {
      throw new Error(
        `the model's ${source} gives "${label}" both for rows whose largest score in "${output.scores}" is column ${other} and column ${column}, so it does not tell the class of each score column; give the classes in the order of the score columns with --classes`,
      );
    }
  });
  const integer = output.labels.type !== 'string';
  const labelsAreIndexes = integer && found.every((label, column) => label === undefined || label === String(column));
  return { labels: labelsAreIndexes ? found.map((_, column) => String(column)) : found, integer, source };
}

/**
 * The classes of the package: the model's own, in its order. --classes must agree with them, or,
 * when the model's labels are integers, may name them (one name per score column, in order).
 * Columns the sample left unknown are taken from --classes, or from the one label value left over.
 */
export function reconcileClasses(model: ModelClasses, given: readonly string[] | undefined, labelValues: readonly string[]): string[] {
  const shown = model.labels.map((l) => l ?? '?').join(', ');
  if (given) {
    if (given.length !== model.labels.length) {
      throw new Error(`--classes ${given.join(', ')} name ${given.length} classes but the model has ${model.labels.length}: ${shown} (its ${model.source})`);
    }
    const names = model.integer && given.some((c) => !isInteger(c));
    if (!names && model.labels.some((label, i) => label !== undefined && label !== given[i])) {
      throw new Error(
        `--classes ${given.join(', ')} contradict the class labels the model carries, in the order of its score columns: ${shown} (its ${model.source}); leave --classes out or give them in the model's order`,
      );
    }
    return [...given];
  }
  const labels = [...model.labels];
  const unknown = labels.flatMap((label, i) => (label === undefined ? [i] : []));
  const leftOver = [...new Set(labelValues)].filter((v) => !labels.includes(v));
  if (unknown.length === 1 && leftOver.length === 1) labels[unknown[0]!] = leftOver[0];
  if (labels.some((label) => label === undefined)) {
    throw new Error(
      `the model's ${model.source} names the classes of only some score columns on this sample (${shown}); give all classes in the order of its score columns with --classes`,
    );
  }
  return labels as string[];
}
