import sys

from t2m.bench import decoder, packing, sweep

COMMANDS = {"packing": packing.main, "sweep": sweep.main}

if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
    COMMANDS[sys.argv[1]](sys.argv[2:])
elif any(a == "--scale" or a.startswith("--scale=") for a in sys.argv[1:]):
    from t2m.bench.scale import main

    main()
else:
    decoder.main()
