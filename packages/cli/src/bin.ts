#!/usr/bin/env node
import { run } from './program.js'

run(process.argv).then((code) => {
  // Exit once stdout has drained: a store client's idle sockets must not keep an operator waiting.
  process.stdout.write('', () => process.exit(code))
})
