import { packageBuild } from '../../scripts/tsdown-package.js'

export default packageBuild({ index: 'src/index.ts', client: 'src/client.ts', main: 'src/main.ts' })
