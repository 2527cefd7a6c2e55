export {writeFileAtomic, writeFileAtomicAsync} from './atomic.js'
export {defineFormat, jsonSchemaOf, readAs, serialise, validateAs, writeAs, type FileFormat} from './format.js'
export {detectKind, FILE_KINDS, wrongKind, type DetectedKind, type FileKind} from './kinds.js'
export {resolveRecordedPath} from './paths.js'
