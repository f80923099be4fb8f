import { packageBuild } from '../../scripts/tsdown-package.js'

export default packageBuild({ index: 'src/index.ts', bin: 'src/bin.ts' })
