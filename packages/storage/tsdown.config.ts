import { packageBuild } from '../../scripts/tsdown-package.js'

export default packageBuild({
  index: 'src/index.ts',
  'dynamodb/index': 'src/dynamodb/index.ts',
  'redis/index': 'src/redis/index.ts',
})
