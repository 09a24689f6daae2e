from evals.steering.cli import main

main()
