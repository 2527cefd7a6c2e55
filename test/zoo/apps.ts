/**
 * Keras-application topologies, built layer for layer as keras/applications/*.py (tf.keras 2.13)
 * builds them with include_top=True, weights=None, classes=1000, so layer names, layer counts and
 * parameter counts are Keras's:
 *
 * | model          | Keras params | Keras layers | default input |
 * |----------------|-------------:|-------------:|---------------|
 * | VGG16          | 138,357,544  | 23           | 224×224×3     |
 * | ResNet50       | 25,636,712   | 177          | 224×224×3     |
 * | Xception       | 22,910,480   | 134          | 299×299×3     |
 * | DenseNet121    | 8,062,504    | 429          | 224×224×3     |
 * | EfficientNetB0 | 5,330,571    | 240          | 224×224×3     |
 *
 * Parameter counts do not depend on the input resolution for these convolutional networks, except
 * VGG16's: its Flatten → fc1 Dense takes (side/32)² × 512 inputs, so fc1 holds 102,764,544 weights
 * at 224 and 2,097,152 at 32 (params 37,694,248 at 32×32). `size` lets tests use small inputs.
 * EfficientNetB0's Normalization layer holds 7 of the parameters (mean 3, variance 3, count 1);
 * amps runs it as a BatchNormalization and drops the count, so amps reports 5,330,570.
 */
import {KerasGraph, type T} from './builder.js'

/** Random weights make large logits; a small classifier head keeps softmax from saturating to one-hot. */
const HEAD_GAIN = 0.02

export type ZooName = 'vgg16' | 'resnet50' | 'xception' | 'densenet121' | 'efficientnetb0'

export const KERAS_FACTS: Record<ZooName, {params: number; layers: number; size: number; minSize: number}> = {
  vgg16: {params: 138_357_544, layers: 23, size: 224, minSize: 32},
  resnet50: {params: 25_636_712, layers: 177, size: 224, minSize: 32},
  xception: {params: 22_910_480, layers: 134, size: 299, minSize: 71},
  densenet121: {params: 8_062_504, layers: 429, size: 224, minSize: 32},
  efficientnetb0: {params: 5_330_571, layers: 240, size: 224, minSize: 32},
}

export function buildZooModel(name: ZooName, size = KERAS_FACTS[name].size, quirks = true): KerasGraph {
  const g = new KerasGraph(name, quirks)
  const x = g.input([size, size, 3])
  const out = BUILDERS[name](g, x)
  g.outputs = [out]
  return g
}

const BUILDERS: Record<ZooName, (g: KerasGraph, x: T) => T> = {
  vgg16(g, input) {
    let x = input
    const blocks: [number, number][] = [
      [64, 2],
      [128, 2],
      [256, 3],
      [512, 3],
      [512, 3],
    ]
    blocks.forEach(([filters, convs], b) => {
      for (let i = 1; i <= convs; i++) x = g.conv(x, filters, 3, {padding: 'same', activation: 'relu', name: `block${b + 1}_conv${i}`})
      x = g.pool('MaxPooling2D', x, 2, {strides: 2, name: `block${b + 1}_pool`})
    })
    x = g.flatten(x, 'flatten')
    x = g.dense(x, 4096, {activation: 'relu', name: 'fc1'})
    x = g.dense(x, 4096, {activation: 'relu', name: 'fc2'})
    return g.dense(x, 1000, {activation: 'softmax', name: 'predictions', gain: HEAD_GAIN})
  },

  resnet50(g, input) {
    const bn = (x: T, name: string): T => g.bn(x, {name, epsilon: 1.001e-5})
    const block1 = (x: T, filters: number, stride: number, convShortcut: boolean, name: string): T => {
      let shortcut = x
      if (convShortcut) shortcut = bn(g.conv(x, 4 * filters, 1, {strides: stride, name: `${name}_0_conv`}), `${name}_0_bn`)
      let y = g.conv(x, filters, 1, {strides: stride, name: `${name}_1_conv`})
      y = g.act(bn(y, `${name}_1_bn`), 'relu', `${name}_1_relu`)
      y = g.conv(y, filters, 3, {padding: 'same', name: `${name}_2_conv`})
      y = g.act(bn(y, `${name}_2_bn`), 'relu', `${name}_2_relu`)
      y = bn(g.conv(y, 4 * filters, 1, {name: `${name}_3_conv`}), `${name}_3_bn`)
      y = g.merge('Add', [shortcut, y], `${name}_add`)
      return g.act(y, 'relu', `${name}_out`)
    }
    const stack1 = (x: T, filters: number, blocks: number, stride1: number, name: string): T => {
      let y = block1(x, filters, stride1, true, `${name}_block1`)
      for (let i = 2; i <= blocks; i++) y = block1(y, filters, 1, false, `${name}_block${i}`)
      return y
    }
    let x = g.zeroPad(
      input,
      [
        [3, 3],
        [3, 3],
      ],
      'conv1_pad',
    )
    x = g.conv(x, 64, 7, {strides: 2, name: 'conv1_conv'})
    x = g.act(bn(x, 'conv1_bn'), 'relu', 'conv1_relu')
    x = g.zeroPad(
      x,
      [
        [1, 1],
        [1, 1],
      ],
      'pool1_pad',
    )
    x = g.pool('MaxPooling2D', x, 3, {strides: 2, name: 'pool1_pool'})
    x = stack1(x, 64, 3, 1, 'conv2')
    x = stack1(x, 128, 4, 2, 'conv3')
    x = stack1(x, 256, 6, 2, 'conv4')
    x = stack1(x, 512, 3, 2, 'conv5')
    x = g.gap(x, 'avg_pool')
    return g.dense(x, 1000, {activation: 'softmax', name: 'predictions', gain: HEAD_GAIN})
  },

  xception(g, input) {
    const sep = (x: T, f: number, name: string): T => g.bn(g.sepConv(x, f, 3, {padding: 'same', useBias: false, name}), {name: `${name}_bn`})
    const shortcut = (x: T, f: number): T => g.bn(g.conv(x, f, 1, {strides: 2, padding: 'same', useBias: false}))
    let x = g.conv(input, 32, 3, {strides: 2, useBias: false, name: 'block1_conv1'})
    x = g.act(g.bn(x, {name: 'block1_conv1_bn'}), 'relu', 'block1_conv1_act')
    x = g.conv(x, 64, 3, {useBias: false, name: 'block1_conv2'})
    x = g.act(g.bn(x, {name: 'block1_conv2_bn'}), 'relu', 'block1_conv2_act')

    let residual = shortcut(x, 128)
    x = sep(x, 128, 'block2_sepconv1')
    x = g.act(x, 'relu', 'block2_sepconv2_act')
    x = sep(x, 128, 'block2_sepconv2')
    x = g.pool('MaxPooling2D', x, 3, {strides: 2, padding: 'same', name: 'block2_pool'})
    x = g.merge('Add', [x, residual])

    for (const [b, f] of [
      [3, 256],
      [4, 728],
    ] as const) {
      residual = shortcut(x, f)
      x = g.act(x, 'relu', `block${b}_sepconv1_act`)
      x = sep(x, f, `block${b}_sepconv1`)
      x = g.act(x, 'relu', `block${b}_sepconv2_act`)
      x = sep(x, f, `block${b}_sepconv2`)
      x = g.pool('MaxPooling2D', x, 3, {strides: 2, padding: 'same', name: `block${b}_pool`})
      x = g.merge('Add', [x, residual])
    }
    for (let i = 0; i < 8; i++) {
      residual = x
      const p = `block${i + 5}`
      for (let j = 1; j <= 3; j++) {
        x = g.act(x, 'relu', `${p}_sepconv${j}_act`)
        x = sep(x, 728, `${p}_sepconv${j}`)
      }
      x = g.merge('Add', [x, residual])
    }
    residual = shortcut(x, 1024)
    x = g.act(x, 'relu', 'block13_sepconv1_act')
    x = sep(x, 728, 'block13_sepconv1')
    x = g.act(x, 'relu', 'block13_sepconv2_act')
    x = sep(x, 1024, 'block13_sepconv2')
    x = g.pool('MaxPooling2D', x, 3, {strides: 2, padding: 'same', name: 'block13_pool'})
    x = g.merge('Add', [x, residual])
    x = g.act(sep(x, 1536, 'block14_sepconv1'), 'relu', 'block14_sepconv1_act')
    x = g.act(sep(x, 2048, 'block14_sepconv2'), 'relu', 'block14_sepconv2_act')
    x = g.gap(x, 'avg_pool')
    return g.dense(x, 1000, {activation: 'softmax', name: 'predictions', gain: HEAD_GAIN})
  },

  densenet121(g, input) {
    const bn = (x: T, name: string): T => g.bn(x, {name, epsilon: 1.001e-5})
    const convBlock = (x: T, growth: number, name: string): T => {
      let y = g.act(bn(x, `${name}_0_bn`), 'relu', `${name}_0_relu`)
      y = g.conv(y, 4 * growth, 1, {useBias: false, name: `${name}_1_conv`})
      y = g.act(bn(y, `${name}_1_bn`), 'relu', `${name}_1_relu`)
      y = g.conv(y, growth, 3, {padding: 'same', useBias: false, name: `${name}_2_conv`})
      return g.merge('Concatenate', [x, y], `${name}_concat`)
    }
    const denseBlock = (x: T, blocks: number, name: string): T => {
      let y = x
      for (let i = 0; i < blocks; i++) y = convBlock(y, 32, `${name}_block${i + 1}`)
      return y
    }
    const transition = (x: T, name: string): T => {
      let y = g.act(bn(x, `${name}_bn`), 'relu', `${name}_relu`)
      y = g.conv(y, Math.floor(y.shape[2] * 0.5), 1, {useBias: false, name: `${name}_conv`})
      return g.pool('AveragePooling2D', y, 2, {strides: 2, name: `${name}_pool`})
    }
    let x = g.zeroPad(input, [
      [3, 3],
      [3, 3],
    ])
    x = g.conv(x, 64, 7, {strides: 2, useBias: false, name: 'conv1/conv'})
    x = g.act(bn(x, 'conv1/bn'), 'relu', 'conv1/relu')
    x = g.zeroPad(x, [
      [1, 1],
      [1, 1],
    ])
    x = g.pool('MaxPooling2D', x, 3, {strides: 2, name: 'pool1'})
    const blocks = [6, 12, 24, 16]
    for (let i = 0; i < 4; i++) {
      x = denseBlock(x, blocks[i], `conv${i + 2}`)
      if (i < 3) x = transition(x, `pool${i + 2}`)
    }
    x = g.act(bn(x, 'bn'), 'relu', 'relu')
    x = g.gap(x, 'avg_pool')
    return g.dense(x, 1000, {activation: 'softmax', name: 'predictions', gain: HEAD_GAIN})
  },

  efficientnetb0(g, input) {
    const convInit = {
      module: 'keras.initializers',
      class_name: 'VarianceScaling',
      config: {scale: 2.0, mode: 'fan_out', distribution: 'truncated_normal', seed: null},
      registered_name: null,
    }
    const denseInit = {
      module: 'keras.initializers',
      class_name: 'VarianceScaling',
      config: {scale: 1 / 3, mode: 'fan_out', distribution: 'uniform', seed: null},
      registered_name: null,
    }
    const correctPad = (x: T, k: number): [[number, number], [number, number]] => {
      const adjust = [1 - (x.shape[0] % 2), 1 - (x.shape[1] % 2)]
      const c = Math.floor(k / 2)
      return [
        [c - adjust[0], c],
        [c - adjust[1], c],
      ]
    }
    const block = (inputs: T, dropRate: number, name: string, fIn: number, fOut: number, k: number, strides: number, expand: number, se: number): T => {
      const filters = fIn * expand
      let x = inputs
      if (expand !== 1) {
        x = g.conv(inputs, filters, 1, {padding: 'same', useBias: false, kernelInit: convInit, name: `${name}expand_conv`})
        x = g.act(g.bn(x, {name: `${name}expand_bn`}), 'swish', `${name}expand_activation`)
      }
      let pad = 'same'
      if (strides === 2) {
        x = g.zeroPad(x, correctPad(x, k), `${name}dwconv_pad`)
        pad = 'valid'
      }
      x = g.dwConv(x, k, {strides, padding: pad, useBias: false, init: convInit, name: `${name}dwconv`})
      x = g.act(g.bn(x, {name: `${name}bn`}), 'swish', `${name}activation`)
      const fSe = Math.max(1, Math.floor(fIn * se))
      let s = g.gap(x, `${name}se_squeeze`)
      s = g.reshape(s, [1, 1, filters], `${name}se_reshape`)
      s = g.conv(s, fSe, 1, {padding: 'same', activation: 'swish', kernelInit: convInit, name: `${name}se_reduce`})
      s = g.conv(s, filters, 1, {padding: 'same', activation: 'sigmoid', kernelInit: convInit, name: `${name}se_expand`})
      x = g.merge('Multiply', [x, s], `${name}se_excite`)
      x = g.conv(x, fOut, 1, {padding: 'same', useBias: false, kernelInit: convInit, name: `${name}project_conv`})
      x = g.bn(x, {name: `${name}project_bn`})
      if (strides === 1 && fIn === fOut) {
        if (dropRate > 0) x = g.dropout(x, dropRate, {noiseShape: [null, 1, 1, 1], name: `${name}drop`})
        x = g.merge('Add', [x, inputs], `${name}add`)
      }
      return x
    }
    let x = g.rescaling(input, 1 / 255)
    x = g.normalization(x)
    x = g.zeroPad(x, correctPad(x, 3), 'stem_conv_pad')
    x = g.conv(x, 32, 3, {strides: 2, padding: 'valid', useBias: false, kernelInit: convInit, name: 'stem_conv'})
    x = g.act(g.bn(x, {name: 'stem_bn'}), 'swish', 'stem_activation')
    const args = [
      [3, 1, 32, 16, 1, 1],
      [3, 2, 16, 24, 6, 2],
      [5, 2, 24, 40, 6, 2],
      [3, 3, 40, 80, 6, 2],
      [5, 3, 80, 112, 6, 1],
      [5, 4, 112, 192, 6, 2],
      [3, 1, 192, 320, 6, 1],
    ]
    const total = args.reduce((s, a) => s + a[1], 0)
    let b = 0
    args.forEach(([k, repeats, fIn0, fOut, expand, strides0], i) => {
      let fIn = fIn0
      let strides = strides0
      for (let j = 0; j < repeats; j++) {
        if (j > 0) {
          strides = 1
          fIn = fOut
        }
        x = block(x, (0.2 * b) / total, `block${i + 1}${String.fromCharCode(97 + j)}_`, fIn, fOut, k, strides, expand, 0.25)
        b++
      }
    })
    x = g.conv(x, 1280, 1, {padding: 'same', useBias: false, kernelInit: convInit, name: 'top_conv'})
    x = g.act(g.bn(x, {name: 'top_bn'}), 'swish', 'top_activation')
    x = g.gap(x, 'avg_pool')
    x = g.dropout(x, 0.2, {name: 'top_dropout'})
    return g.dense(x, 1000, {activation: 'softmax', name: 'predictions', init: denseInit, gain: HEAD_GAIN})
  },
}
