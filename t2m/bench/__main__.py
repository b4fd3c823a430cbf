import sys

if any(a == "--scale" or a.startswith("--scale=") for a in sys.argv[1:]):
    from t2m.bench.scale import main
else:
    from t2m.bench.decoder import main

main()
