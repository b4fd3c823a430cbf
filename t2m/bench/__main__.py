from t2m.bench.decoder import main

main()
